"""``difychat serve`` with an app on ``provider: anthropic``, against a fake Anthropic Messages API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Database, Launcher, write_apps
from tests.e2e.helpers import blocking_chat, messages, streaming_chat
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.upstream import FakeUpstream

CLAUDE_KEY = "app-claudeclaudeclaude00001"


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic().start()
    yield server
    server.stop()


def test_serve_answers_with_claude(
    launcher: Launcher, upstream: FakeUpstream, fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    fake_anthropic.reset()

    def add_claude(document: dict[str, Any]) -> None:
        document["apps"].append(
            {
                "name": "Claude",
                "api_keys": [CLAUDE_KEY],
                "model": {
                    "provider": "anthropic",
                    "name": "claude-test",
                    "base_url": fake_anthropic.base_url,
                    "api_key": "${ANTHROPIC_API_KEY}",
                    "completion_params": {"max_tokens": 300},
                },
                "pre_prompt": "You are terse.",
            }
        )

    config = write_apps(tmp_path / "apps.yaml", upstream, add_claude)
    served = launcher.new(
        Database("sqlite", None), config=config, env={"ANTHROPIC_API_KEY": "sk-ant-from-env"}
    )
    with served.client(CLAUDE_KEY) as client:
        first = blocking_chat(client, "What is 2+2?", auto_generate_name=False)
        assert first["answer"] == "Hello from the fake Claude."
        assert first["metadata"]["usage"]["prompt_tokens"] == 13

        fake_anthropic.behaviour.chunks = ["Four", "."]
        frames = streaming_chat(
            client, "Say it again", conversation_id=first["conversation_id"], auto_generate_name=False
        )
        assert [f.event for f in frames] == ["message", "message", "message_end"]
        assert frames[-1].data is not None and frames[-1].data["metadata"]["usage"]["completion_tokens"] == 6

        fake_anthropic.behaviour.status = 529
        overloaded = streaming_chat(client, "Once more", auto_generate_name=False)
        assert [f.event for f in overloaded] == ["error"]
        assert overloaded[0].data is not None and overloaded[0].data["code"] == "completion_request_error"

        saved = messages(client, first["conversation_id"])
        assert [(m["query"], m["answer"]) for m in saved] == [
            ("What is 2+2?", "Hello from the fake Claude."),
            ("Say it again", "Four."),
        ]
        assert "sk-ant-from-env" not in client.get("/parameters").text

    sent = [r for r in fake_anthropic.requests if r.body.get("stream")]
    assert len(sent) == 3
    assert sent[0].headers["x-api-key"] == "sk-ant-from-env"
    assert sent[1].body["system"] == "You are terse." and sent[1].body["max_tokens"] == 300
    assert [m["role"] for m in sent[1].body["messages"]] == ["user", "assistant", "user"]
    assert "sk-ant-from-env" not in served.output()
