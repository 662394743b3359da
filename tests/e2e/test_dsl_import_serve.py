"""A Dify export brought over with ``difychat apps import`` is served by ``difychat serve``."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import tls_context
from tests.e2e.conftest import Launcher, clean_env, make_database, run_cli
from tests.e2e.helpers import FAKE_ANSWER, chat_body
from tests.fakes.upstream import FakeUpstream

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dsl"


@pytest.mark.timeout(180)
def test_an_imported_dify_chat_app_answers(
    launcher: Launcher, upstream: FakeUpstream, tmp_path: Path
) -> None:
    apps, data_dir = tmp_path / "apps.yaml", tmp_path / "data"
    model_env = {"OPENAI_BASE_URL": upstream.base_url, "OPENAI_API_KEY": "sk-from-env"}
    env = clean_env(**model_env)

    imported = run_cli("apps", "import", str(FIXTURES / "chat_with_form.yml"), "--out", str(apps), env=env)
    assert imported.returncode == 0, imported.stderr
    assert "  - set OPENAI_API_KEY\n" in imported.stdout
    assert "sk-from-env" not in apps.read_text(encoding="utf-8")

    created = run_cli(
        "keys", "create", "--app", "Trail Guide", "--config", str(apps), "--data-dir", str(data_dir), env=env
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()

    server = launcher.new(make_database("sqlite", None), data_dir=data_dir, config=apps, env=model_env)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(
        base_url=server.v1, headers=headers, trust_env=False, timeout=30, verify=tls_context()
    ) as client:
        parameters = client.get("/parameters")
        assert parameters.status_code == 200, parameters.text
        shown = parameters.json()
        assert shown["opening_statement"] == "Hi {{name}}! Which trail are you thinking about?"
        assert [next(iter(f)) for f in shown["user_input_form"]] == [
            "text-input",
            "select",
            "number",
            "paragraph",
            "checkbox",
        ]
        assert shown["text_to_speech"]["voice"] == "alloy" and shown["speech_to_text"] == {"enabled": True}

        missing = client.post("/chat-messages", json=chat_body("Which trail?", "hiker"))
        assert missing.status_code == 400, missing.text  # name is a required input

        body = chat_body("Which trail?", "hiker", inputs={"name": "Ada", "level": "easy", "distance": 12})
        answer = client.post("/chat-messages", json=body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["answer"] == FAKE_ANSWER

    request = upstream.chat_requests(stream=True)[-1]
    assert request.body["model"] == "gpt-4o-mini" and request.body["temperature"] == 0.3
    system = request.body["messages"][0]["content"]
    assert "The hiker is called Ada and prefers easy trails of about 12 km." in system
