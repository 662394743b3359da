"""Dify's official SDKs, unchanged, against ``difychat serve``.

Python: ``dify-client`` 0.1.10 from PyPI (requests). Node: ``dify-client`` 2.3.2 from npm (axios).
Both are used the way their READMEs show; the server has to meet them where they are.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from dify_client import ChatClient

from tests.conftest import missing_service
from tests.e2e.conftest import ServerProcess, clean_env
from tests.e2e.helpers import FAKE_ANSWER, wait_for
from tests.fakes.upstream import FakeUpstream
from tests.integration.conftest import FILES_KEY, PLAIN_KEY

NODE_DIR = Path(__file__).parent / "node"
UNICODE_CHUNKS = ["Grüße", " aus", " 東京", " — ça va?", " 👋"]
UNICODE_ANSWER = "".join(UNICODE_CHUNKS)


@pytest.fixture
def sdk(served_sqlite: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> ChatClient:
    # requests honours proxy variables; loopback must never go through one.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    client = ChatClient(PLAIN_KEY)
    client.base_url = served_sqlite.v1  # 0.1.10 has no constructor argument for it
    return client


def readme_stream(response: Any) -> list[dict[str, Any]]:
    """The Python SDK README's loop, verbatim in substance."""
    events = []
    for line in response.iter_lines(decode_unicode=True):
        line = line.split("data:", 1)[-1]
        if line.strip():
            events.append(json.loads(line.strip()))
    return events


def test_python_sdk_chat_history_rename_and_feedback(sdk: ChatClient, upstream: FakeUpstream) -> None:
    user = "py-sdk-user"
    blocking = sdk.create_chat_message(
        inputs={}, query="Hello from Python", user=user, response_mode="blocking"
    )
    blocking.raise_for_status()
    assert blocking.json()["answer"] == FAKE_ANSWER
    conversation_id = blocking.json()["conversation_id"]

    upstream.behaviour.chunks = UNICODE_CHUNKS
    streamed = sdk.create_chat_message(
        inputs={},
        query="Und jetzt auf Japanisch: こんにちは",
        user=user,
        response_mode="streaming",
        conversation_id=conversation_id,
    )
    streamed.raise_for_status()
    events = readme_stream(streamed)
    assert [e["event"] for e in events] == ["message"] * len(UNICODE_CHUNKS) + ["message_end"]
    answer = "".join(e["answer"] for e in events if e["event"] == "message")
    assert answer == UNICODE_ANSWER, "non-ASCII text must survive the README's decode_unicode=True"
    assert {e["conversation_id"] for e in events} == {conversation_id}
    streamed_id = events[-1]["message_id"]

    history = sdk.get_conversation_messages(user=user, conversation_id=conversation_id)
    history.raise_for_status()
    assert [(m["query"], m["answer"]) for m in history.json()["data"]] == [
        ("Hello from Python", FAKE_ANSWER),
        ("Und jetzt auf Japanisch: こんにちは", UNICODE_ANSWER),
    ]
    # The `limit` argument is honoured.
    newest = sdk.get_conversation_messages(user=user, conversation_id=conversation_id, limit=1)
    newest.raise_for_status()
    assert [m["id"] for m in newest.json()["data"]] == [streamed_id]
    assert newest.json()["has_more"] is True

    for pinned in (False, True, None):  # 0.1.10 sends `pinned=False` / `pinned=True` as Python spells them
        listed = sdk.get_conversations(user=user, limit=5, pinned=pinned)
        listed.raise_for_status()
        assert [c["id"] for c in listed.json()["data"]] == [conversation_id], pinned

    renamed = sdk.rename_conversation(conversation_id, "Grüße from the SDK", user)
    renamed.raise_for_status()
    assert renamed.json()["id"] == conversation_id and renamed.json()["name"] == "Grüße from the SDK"
    listed = sdk.get_conversations(user=user)
    listed.raise_for_status()
    assert listed.json()["data"][0]["name"] == "Grüße from the SDK"

    feedback = sdk.message_feedback(streamed_id, "like", user)
    feedback.raise_for_status()
    assert feedback.json() == {"result": "success"}
    history = sdk.get_conversation_messages(user=user, conversation_id=conversation_id)
    history.raise_for_status()
    assert [m["feedback"] for m in history.json()["data"]] == [None, {"rating": "like"}]

    foreign = sdk.get_conversation_messages(user="someone-else", conversation_id=conversation_id)
    assert foreign.status_code == 404


def test_python_sdk_application_parameters(sdk: ChatClient) -> None:
    response = sdk.get_application_parameters(user="py-sdk-user")
    response.raise_for_status()
    body = response.json()
    assert isinstance(body["user_input_form"], list)
    assert isinstance(body["suggested_questions"], list)


def test_python_sdk_uploads_a_file_and_sends_it_in_a_chat(
    served_sqlite: ServerProcess, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    client = ChatClient(FILES_KEY)
    client.base_url = served_sqlite.v1
    notes = "Opening hours: 9 to 5, Monday to Friday."
    uploaded = client.file_upload(
        "py-sdk-user", {"file": ("notes.txt", io.BytesIO(notes.encode()), "text/plain")}
    )
    uploaded.raise_for_status()
    body = uploaded.json()
    assert uploaded.status_code == 201
    assert (body["name"], body["size"], body["extension"], body["mime_type"]) == (
        "notes.txt",
        len(notes),
        "txt",
        "text/plain",
    )
    files = [{"type": "document", "transfer_method": "local_file", "upload_file_id": body["id"]}]
    answer = client.create_chat_message(
        inputs={}, query="When are you open?", user="py-sdk-user", files=files
    )
    answer.raise_for_status()
    history = client.get_conversation_messages(
        user="py-sdk-user", conversation_id=answer.json()["conversation_id"]
    )
    history.raise_for_status()
    (message,) = history.json()["data"]
    assert [f["filename"] for f in message["message_files"]] == ["notes.txt"]
    assert notes in json.dumps(upstream.chat_requests(stream=True)[-1].body, ensure_ascii=False), (
        "the text reached the model"
    )


def test_python_sdk_sees_errors_as_http_errors(
    served_sqlite: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    import requests

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    client = ChatClient("app-not-a-real-key-000000000")
    client.base_url = served_sqlite.v1
    response = client.create_chat_message(inputs={}, query="hi", user="u")
    assert response.status_code == 401
    with pytest.raises(requests.HTTPError):
        response.raise_for_status()
    assert response.json()["code"] == "unauthorized"


def _node_ready() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing_service("node and npm are needed to run the Node dify-client")
    assert node is not None and npm is not None
    if not (NODE_DIR / "node_modules" / "dify-client").is_dir():
        command = "ci" if (NODE_DIR / "package-lock.json").exists() else "install"
        installed = subprocess.run(
            [npm, command, "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if installed.returncode != 0:
            missing_service(f"npm {command} failed in {NODE_DIR}:\n{installed.stderr[-2000:]}")
    return Path(node)


def test_node_sdk_against_the_server(served_sqlite: ServerProcess, upstream: FakeUpstream) -> None:
    node = _node_ready()
    upstream.behaviour.chunks = UNICODE_CHUNKS
    user = "node-sdk-user"
    run = subprocess.run(
        [str(node), "sdk_check.mjs", served_sqlite.v1, PLAIN_KEY, user],
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
    assert blocking["status"] == 200 and blocking["answer"] == UNICODE_ANSWER
    conversation_id = blocking["conversation_id"]

    streaming = summary["streaming"]
    assert streaming["status"] == 200
    assert streaming["content_type"] == "text/event-stream; charset=utf-8"
    assert streaming["events"] == ["message"] * len(UNICODE_CHUNKS) + ["message_end"]
    assert streaming["answer"] == UNICODE_ANSWER
    assert streaming["conversation_ids"] == [conversation_id]

    assert summary["messages"] == [
        {"query": "Hello from Node", "answer": UNICODE_ANSWER},
        {"query": "Und weiter? Größer!", "answer": UNICODE_ANSWER},
    ]
    assert summary["conversations"] == [conversation_id]  # `first_id` and `pinned=false` are ignored
    assert summary["renamed"] == {"status": 200, "id": conversation_id, "name": "Renamed by Node ✓"}
    assert summary["names_after_rename"] == ["Renamed by Node ✓"]
    assert summary["feedback"] == {"status": 200, "data": {"result": "success"}}
    assert summary["feedback_seen"] == [None, {"rating": "like"}]
    assert summary["deleted"]["status"] in (200, 204)
    assert summary["conversations_after_delete"] == []
    assert summary["messages_after_delete_status"] == 404
    assert summary["bad_key_status"] == 401
    assert summary["parameters"]["status"] == 200 and summary["parameters"]["feature_flags_are_objects"]
    assert summary["parameters"]["keys"][:2] == ["opening_statement", "suggested_questions"]
    assert "system_parameters" in summary["parameters"]["keys"]
    size = len("Grüße aus Node".encode())
    upload = {"status": 201, "name": "greeting.txt", "size": size, "mime_type": "text/plain"}
    assert summary["upload"] == upload

    # What the SDK saw is what the server keeps: the conversation is gone for plain HTTP too.
    params = {"user": user, "conversation_id": conversation_id}
    with served_sqlite.client() as client:
        gone = wait_for(lambda: client.get("/messages", params=params).status_code == 404)
    assert gone
