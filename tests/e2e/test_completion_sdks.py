"""Dify's official SDKs' ``CompletionClient``, unchanged, against ``difychat serve`` with a completion app.

Python: ``dify-client`` 0.1.10 (requests); Node: ``dify-client`` 2.3.2 (axios), used as their READMEs
show: the text goes in ``inputs.query``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from dify_client import ChatClient, CompletionClient

from tests.e2e.conftest import SERVERS, Launcher, ServerProcess, clean_env, make_database, write_apps
from tests.e2e.helpers import FAKE_ANSWER
from tests.e2e.test_dify_sdks import NODE_DIR, UNICODE_ANSWER, UNICODE_CHUNKS, _node_ready, readme_stream
from tests.fakes.upstream import FakeUpstream
from tests.integration.conftest import PLAIN_KEY

COMPLETION_KEY = "app-completioncompletion0001"
BLOCKING_KEYS = ["event", "task_id", "id", "message_id", "mode", "answer", "metadata", "created_at"]


def add_completion_app(document: dict[str, Any]) -> None:
    model = dict(document["apps"][0]["model"])
    document["apps"].append(
        {
            "name": "Haiku writer",
            "mode": "completion",
            "api_keys": [COMPLETION_KEY],
            "model": model,
            "pre_prompt": "Write a haiku about: {{query}}",
            "more_like_this": {"enabled": True},
        }
    )


@pytest.fixture(scope="module")
def served_completion(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    upstream_server: FakeUpstream,
) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("serve-completion")
    launcher = Launcher(root, upstream_server, [])
    config = write_apps(root / "apps.yaml", upstream_server, add_completion_app)
    try:
        yield launcher.new(make_database("sqlite", None), config=config)
    finally:
        launcher.stop_all()


@pytest.fixture
def sdk(
    request: pytest.FixtureRequest, served_completion: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> CompletionClient:
    request.node.stash.setdefault(SERVERS, []).append(served_completion)
    # requests honours proxy variables; loopback must never go through one.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    client = CompletionClient(COMPLETION_KEY)
    client.base_url = served_completion.v1  # 0.1.10 has no constructor argument for it
    return client


def test_python_sdk_completion_blocking_streaming_and_feedback(
    sdk: CompletionClient, served_completion: ServerProcess, upstream: FakeUpstream
) -> None:
    user = "py-sdk-writer"
    blocking = sdk.create_completion_message(inputs={"query": "autumn"}, response_mode="blocking", user=user)
    blocking.raise_for_status()
    body = blocking.json()
    assert list(body) == BLOCKING_KEYS
    assert (body["mode"], body["answer"]) == ("completion", FAKE_ANSWER)
    sent = upstream.chat_requests(stream=True)[-1].body["messages"]
    assert sent == [{"role": "user", "content": "Write a haiku about: autumn"}]

    upstream.behaviour.chunks = UNICODE_CHUNKS
    streamed = sdk.create_completion_message(inputs={"query": "東京"}, response_mode="streaming", user=user)
    streamed.raise_for_status()
    events = readme_stream(streamed)
    assert [e["event"] for e in events] == ["message"] * len(UNICODE_CHUNKS) + ["message_end"]
    assert "".join(e["answer"] for e in events if e["event"] == "message") == UNICODE_ANSWER
    assert all("conversation_id" not in e for e in events)

    feedback = sdk.message_feedback(events[-1]["message_id"], "like", user)
    feedback.raise_for_status()
    assert feedback.json() == {"result": "success"}
    with served_completion.client(COMPLETION_KEY) as client:
        listed = client.get("/app/feedbacks").json()["data"]
    assert (events[-1]["message_id"], "like") in [(f["message_id"], f["rating"]) for f in listed]

    parameters = sdk.get_application_parameters(user)
    parameters.raise_for_status()
    assert parameters.json()["more_like_this"] == {"enabled": True}
    assert parameters.json()["user_input_form"][0]["paragraph"]["variable"] == "query"


def test_python_sdk_sees_the_mode_errors(sdk: CompletionClient, served_completion: ServerProcess) -> None:
    missing = sdk.create_completion_message(inputs={}, response_mode="blocking", user="u")
    assert missing.status_code == 400 and missing.json()["message"] == "query is required in input form"

    chat_app = CompletionClient(PLAIN_KEY)
    chat_app.base_url = served_completion.v1
    refused = chat_app.create_completion_message(inputs={"query": "x"}, response_mode="blocking", user="u")
    assert refused.status_code == 400 and refused.json()["code"] == "app_unavailable"

    as_chat = ChatClient(COMPLETION_KEY)
    as_chat.base_url = served_completion.v1
    refused = as_chat.create_chat_message(inputs={}, query="hi", user="u")
    assert refused.status_code == 400 and refused.json()["code"] == "not_chat_app"


def test_node_sdk_completion_client(
    request: pytest.FixtureRequest, served_completion: ServerProcess, upstream: FakeUpstream
) -> None:
    request.node.stash.setdefault(SERVERS, []).append(served_completion)
    node = _node_ready()
    upstream.behaviour.chunks = UNICODE_CHUNKS
    user = "node-sdk-writer"
    run = subprocess.run(
        [str(node), "completion_check.mjs", served_completion.v1, COMPLETION_KEY, PLAIN_KEY, user],
        cwd=NODE_DIR,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    summary = json.loads(run.stdout.strip().splitlines()[-1])

    blocking = summary["blocking"]
    assert blocking["status"] == 200 and blocking["keys"] == BLOCKING_KEYS
    assert (blocking["mode"], blocking["answer"]) == ("completion", UNICODE_ANSWER)

    streaming = summary["streaming"]
    assert streaming["status"] == 200
    assert streaming["content_type"] == "text/event-stream; charset=utf-8"
    assert streaming["events"] == ["message"] * len(UNICODE_CHUNKS) + ["message_end"]
    assert streaming["first_keys"][:3] == ["event", "message_id", "created_at"]
    assert streaming["answer"] == UNICODE_ANSWER

    assert summary["feedback"] == {"status": 200, "data": {"result": "success"}}
    assert summary["parameters"]["status"] == 200
    assert summary["parameters"]["more_like_this"] == {"enabled": True}
    assert summary["missing_query"] == {"status": 400, "code": "invalid_param"}
    assert summary["chat_key_on_completion"] == {"status": 400, "code": "app_unavailable"}
    assert summary["completion_key_on_chat"] == {"status": 400, "code": "not_chat_app"}

    # What the SDK sent was stored: the streamed completion carries its dislike.
    with served_completion.client(COMPLETION_KEY) as client:
        listed = client.get("/app/feedbacks").json()["data"]
    assert (streaming["message_id"], "dislike") in [(f["message_id"], f["rating"]) for f in listed]
