"""``difychat serve`` and the admin commands, as a user runs them: a real process over raw HTTP."""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.databases import POSTGRES_ADMIN_URL
from tests.e2e.conftest import (
    DATABASES,
    Launcher,
    PostgresFactory,
    ServerProcess,
    clean_env,
    difychat_command,
    free_port,
    make_database,
    run_cli,
    write_apps,
)
from tests.e2e.helpers import (
    FAKE_ANSWER,
    OpenStream,
    answer_of,
    blocking_chat,
    chat_body,
    conversations,
    messages,
    streaming_chat,
    wait_for,
)
from tests.fakes.upstream import FakeUpstream
from tests.integration.conftest import OTHER_APP_KEY, PLAIN_KEY, SUPPORT_KEY

SLOW_CHUNKS = ["one", " two", " three", " four", " five", " six", " seven", " eight"]


def _user(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns()}"


# --- chat over raw HTTP --------------------------------------------------------------------------


def test_blocking_then_streaming_turns_build_one_conversation(
    served: ServerProcess, upstream: FakeUpstream
) -> None:
    user = _user("chat")
    with served.client() as client:
        first = blocking_chat(client, "What is difychat?", user)
        assert first["event"] == "message" and first["answer"] == FAKE_ANSWER
        assert first["id"] == first["message_id"]
        assert isinstance(first["created_at"], int)
        conversation_id = first["conversation_id"]

        upstream.behaviour.chunks = ["Sure", ", it", " is."]
        frames = streaming_chat(client, "Tell me more", user, conversation_id=conversation_id)
        events = [f.event for f in frames if f.data]
        assert events == ["message", "message", "message", "message_end"], events
        assert answer_of(frames) == "Sure, it is."
        ids = {(f.data["conversation_id"], f.data["message_id"], f.data["task_id"]) for f in frames if f.data}
        assert len(ids) == 1, ids
        ((stream_conversation, stream_message, _task),) = ids
        assert stream_conversation == conversation_id and stream_message != first["id"]
        end = frames[-1].data
        assert end is not None and end["metadata"]["usage"]["total_tokens"] == 16

        # The second turn reached the model with the first turn as history.
        sent = upstream.chat_requests(stream=True)[-1].body["messages"]
        contents = [m["content"] for m in sent]
        assert contents[-3:] == ["What is difychat?", FAKE_ANSWER, "Tell me more"], sent

        history = messages(client, conversation_id, user)
        assert [(m["query"], m["answer"], m["status"]) for m in history] == [
            ("What is difychat?", FAKE_ANSWER, "normal"),
            ("Tell me more", "Sure, it is.", "normal"),
        ]
        assert [m["id"] for m in history] == [first["id"], stream_message]

        listed = conversations(client, user)
        assert [c["id"] for c in listed] == [conversation_id]
        # Another user sees neither the conversation nor its messages.
        assert conversations(client, _user("stranger")) == []
        foreign = client.get("/messages", params={"user": "stranger", "conversation_id": conversation_id})
        assert foreign.status_code == 404, foreign.text


def test_health_and_auth_on_the_real_process(served: ServerProcess) -> None:
    with httpx.Client(trust_env=False) as client:
        assert client.get(f"{served.base_url}/health").status_code == 200
        missing = client.post(f"{served.v1}/chat-messages", json=chat_body())
        wrong = client.post(
            f"{served.v1}/chat-messages", json=chat_body(), headers={"Authorization": "Bearer app-nope"}
        )
    assert missing.status_code == 401 and wrong.status_code == 401
    assert wrong.json()["code"] == "unauthorized"


def test_stop_during_a_slow_stream_ends_it_and_keeps_the_partial_answer(
    served: ServerProcess, upstream: FakeUpstream
) -> None:
    upstream.behaviour.chunks = SLOW_CHUNKS
    upstream.behaviour.gap = 1.0
    user = _user("stop")
    with served.client() as client, served.client() as other:
        with client.stream("POST", "/chat-messages", json=chat_body("count", user, "streaming")) as response:
            stream = OpenStream(response)
            first = stream.next_data()
            asked = time.monotonic()
            stop = other.post(f"/chat-messages/{first['task_id']}/stop", json={"user": user})
            rest = stream.rest()
            elapsed = time.monotonic() - asked
        assert stop.status_code == 200 and stop.json() == {"result": "success"}
        assert rest[-1].event == "message_end"
        assert elapsed < 4.0, elapsed  # the whole answer would take 7 s more
        streamed = first["answer"] + answer_of(rest)
        assert streamed.startswith("one") and "eight" not in streamed

        saved = messages(client, first["conversation_id"], user)
        assert len(saved) == 1
        assert saved[0]["answer"] == streamed and saved[0]["status"] == "normal"


def test_a_client_that_disconnects_mid_stream_loses_nothing(
    served: ServerProcess, upstream: FakeUpstream
) -> None:
    upstream.behaviour.gap = 0.1
    user = _user("gone")
    with served.client() as client:
        with client.stream("POST", "/chat-messages", json=chat_body("hello?", user, "streaming")) as response:
            first = OpenStream(response).next_data()
        # The connection is closed after one delta; the answer keeps being generated and saved.

        def complete() -> bool:
            saved = messages(client, first["conversation_id"], user)
            return bool(saved) and saved[0]["answer"] == FAKE_ANSWER

        assert wait_for(complete, timeout=10)
        assert [c["id"] for c in conversations(client, user)] == [first["conversation_id"]]


# --- several worker processes --------------------------------------------------------------------


def test_stop_works_whichever_worker_receives_it(
    served_two_workers: ServerProcess, upstream: FakeUpstream
) -> None:
    upstream.behaviour.chunks = SLOW_CHUNKS
    upstream.behaviour.gap = 0.25
    user = _user("workers")
    timings = []
    # Fresh connections each time, so that streams and stops land on both workers in every combination.
    for attempt in range(8):
        body = chat_body(f"n{attempt}", user, "streaming")
        with (
            served_two_workers.client() as client,
            client.stream("POST", "/chat-messages", json=body) as response,
        ):
            stream = OpenStream(response)
            first = stream.next_data()
            asked = time.monotonic()
            with served_two_workers.client() as stopper:
                stop = stopper.post(f"/chat-messages/{first['task_id']}/stop", json={"user": user})
            rest = stream.rest()
            timings.append(time.monotonic() - asked)
        assert stop.status_code == 200 and stop.json() == {"result": "success"}
        assert rest[-1].event == "message_end", attempt
        assert "eight" not in answer_of(rest), attempt
    assert max(timings) < 1.2, timings  # an unstopped answer takes 1.75 s more

    # Every conversation, whichever worker served it, is visible through any worker.
    with served_two_workers.client() as client:
        assert len(conversations(client, user)) == 8


def test_two_workers_share_conversations(served_two_workers: ServerProcess) -> None:
    user = _user("shared")
    conversation_id: str | None = None
    for turn in range(4):
        with served_two_workers.client() as client:
            extra = {"conversation_id": conversation_id} if conversation_id else {}
            conversation_id = blocking_chat(client, f"turn {turn}", user, **extra)["conversation_id"]
    assert conversation_id is not None
    with served_two_workers.client() as client:
        queries = [m["query"] for m in messages(client, conversation_id, user)]
    assert queries == [f"turn {n}" for n in range(4)]


# --- first run, keys, migrations, restarts -------------------------------------------------------


def test_first_run_without_config_creates_a_demo_app_that_echoes(launcher: Launcher, tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh"
    server = launcher.new(make_database("sqlite", None), data_dir=data_dir, config=False)
    output = server.output()
    assert "first run" in output, output
    curl_line = re.search(r"^curl -s (\S+) \\\n(.*?)\n(.*?)$", output, re.M)
    assert curl_line is not None, output
    assert curl_line.group(1) == f"{server.v1}/chat-messages"
    key_match = re.search(r"Bearer (app-[A-Za-z0-9_-]+)'", curl_line.group(2))
    assert key_match is not None, output
    key = key_match.group(1)
    assert f"stored hashed): {key}" in output, "the panel and the curl line show the same key"
    assert "echo provider" in output

    # The printed command works as pasted.
    if shutil.which("curl"):
        pasted = subprocess.run(
            ["bash", "-c", curl_line.group(0)],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert pasted.returncode == 0, pasted.stderr
        assert "No model is configured" in pasted.stdout and "Hello!" in pasted.stdout, pasted.stdout

    with server.client(key) as client:
        answer = blocking_chat(client, "Is anyone there?", "me")["answer"]
        frames = streaming_chat(client, "Streaming too?", "me")
    assert answer.startswith("No model is configured") and answer.endswith("You said: Is anyone there?")
    assert answer_of(frames).endswith("You said: Streaming too?")

    # A second start finds the app: no new demo, no new key, the old one still works.
    assert server.stop() == 0, server.output()
    again = launcher.new(make_database("sqlite", None), data_dir=data_dir, config=False)
    assert "first run" not in again.output() and key not in again.output()
    with again.client(key) as client:
        assert blocking_chat(client, "Still here?", "me")["answer"].endswith("You said: Still here?")
    assert again.stop() == 0, again.output()


def test_the_demo_app_follows_the_openai_variables_across_restarts(
    launcher: Launcher, upstream: FakeUpstream, tmp_path: Path
) -> None:
    data_dir = tmp_path / "demo"
    first = launcher.new(make_database("sqlite", None), data_dir=data_dir, config=False)
    key_match = re.search(r"Bearer (app-[A-Za-z0-9_-]+)'", first.output())
    assert key_match is not None, first.output()
    key = key_match.group(1)
    with first.client(key) as client:
        assert blocking_chat(client, "ping", "me")["answer"].startswith("No model is configured")
    assert first.stop() == 0, first.output()

    # A model configured later (the openai SDK's variables) is picked up by the same app and key,
    # here by two worker processes.
    model_env = {
        "OPENAI_BASE_URL": upstream.base_url,
        "OPENAI_API_KEY": "sk-demo",
        "OPENAI_MODEL": "fake-model",
    }
    second = launcher.new(
        make_database("sqlite", None), data_dir=data_dir, config=False, workers=2, env=model_env
    )
    for _ in range(4):
        with second.client(key) as client:
            assert blocking_chat(client, "ping", "me")["answer"] == FAKE_ANSWER
    sent = upstream.chat_requests(stream=True)
    assert len(sent) == 4 and all(r.body["model"] == "fake-model" for r in sent)

    # SIGINT stops the supervisor and both workers.
    assert second.process is not None
    workers = _workers(second.process.pid)
    assert len(workers) == 2, workers
    assert second.stop() == 0, second.output()
    gone = wait_for(lambda: not any(_running(pid) for pid in workers), timeout=5)
    assert gone, f"workers outlived the server: {[pid for pid in workers if _running(pid)]}"


def _workers(pid: int) -> list[int]:
    """The uvicorn worker processes under a server this test started (Linux /proc).

    multiprocessing's resource tracker is a child too, but not a worker: it leaves on its own.
    """
    path = Path(f"/proc/{pid}/task/{pid}/children")
    if not path.exists():
        pytest.skip("needs /proc to see worker processes")
    children = [int(child) for child in path.read_text().split()]
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; init reaps it in its own time


def _keys(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("keys", *args, *server.cli_args(), env=server.env())


def test_keys_create_list_revoke(served: ServerProcess) -> None:
    created = _keys(served, "create", "--app", "Plain")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert re.fullmatch(r"app-[A-Za-z0-9_-]{16,}", key), created.stdout

    with served.client(key) as client:
        assert blocking_chat(client, "new key", "keys")["answer"] == FAKE_ANSWER

    listed = _keys(served, "list")
    assert listed.returncode == 0, listed.stderr
    assert "Plain" in listed.stdout and "Support Bot" in listed.stdout
    for full in (key, PLAIN_KEY, SUPPORT_KEY, OTHER_APP_KEY):
        assert full not in listed.stdout, "keys list must only show hints"
    only_plain = _keys(served, "list", "--app", "Plain")
    assert "Support Bot" not in only_plain.stdout and "Plain" in only_plain.stdout

    revoked = _keys(served, "revoke", key)
    assert revoked.returncode == 0 and revoked.stdout.strip() == "revoked", revoked
    # A running server may reuse a valid key for DIFYCHAT_CACHE_SECONDS (5 s by default), no longer.
    deadline = time.monotonic() + 8.0
    with served.client(key) as client:
        while True:
            refused = client.post("/chat-messages", json=chat_body("after revoke", "keys"))
            if refused.status_code != 200 or time.monotonic() > deadline:
                break
            time.sleep(0.25)
    assert refused.status_code == 401, refused.text
    assert _keys(served, "revoke", key).stdout.strip() == "already revoked"

    unknown = _keys(served, "create", "--app", "No Such App")
    assert unknown.returncode == 1 and "error" in unknown.stderr and not unknown.stdout.strip()

    # Other keys are untouched.
    with served.client(PLAIN_KEY) as client:
        assert blocking_chat(client, "old key", "keys")["answer"] == FAKE_ANSWER


async def _postgres_tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {r["tablename"] for r in rows}


@pytest.mark.parametrize("kind", DATABASES)
def test_db_upgrade_migrates_a_fresh_database_and_is_idempotent(
    kind: str, tmp_path: Path, postgres_factory: PostgresFactory | None
) -> None:
    database = make_database(kind, postgres_factory)
    data_dir = tmp_path / "data"
    env = clean_env(**database.env())
    for _ in range(2):
        result = run_cli("db", "upgrade", "--data-dir", str(data_dir), env=env)
        assert result.returncode == 0, result.stderr
        assert "up to date" in result.stdout
    if database.url is None:
        path = data_dir / "difychat.db"
        assert str(path.resolve()) in result.stdout
        with sqlite3.connect(path) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    else:
        assert POSTGRES_ADMIN_URL.split("@")[-1].split("/")[0] in result.stdout
        tables = asyncio.run(_postgres_tables(database.url))
        assert not (data_dir / "difychat.db").exists()
    assert "alembic_version" in tables
    assert len(tables) > 3, tables


@pytest.mark.parametrize("kind", DATABASES)
def test_restart_with_a_changed_apps_file_keeps_conversations(
    kind: str,
    launcher: Launcher,
    upstream: FakeUpstream,
    postgres_factory: PostgresFactory | None,
    tmp_path: Path,
) -> None:
    database = make_database(kind, postgres_factory)
    data_dir = tmp_path / "kept"
    config = write_apps(tmp_path / "apps.yaml", upstream)
    first = launcher.new(database, data_dir=data_dir, config=config)
    with first.client() as client:
        turn = blocking_chat(client, "remember me", "restart")
    with first.client(OTHER_APP_KEY) as client:
        blocking_chat(client, "other app", "restart")
    assert first.stop() == 0, first.output()

    def edit(document: dict[str, Any]) -> None:
        apps = {a["name"]: a for a in document["apps"]}
        apps["Plain"]["pre_prompt"] = "Answer in one word."
        apps["Plain"]["api_keys"] = [PLAIN_KEY, "app-addedaddedaddedadded0001"]
        apps["Support Bot"]["api_keys"] = ["app-rotatedrotatedrotated01"]
        document["apps"] = [a for a in document["apps"] if a["name"] != "Other"]

    write_apps(config, upstream, edit)
    second = launcher.new(database, data_dir=data_dir, config=config)
    with second.client() as client:
        assert [c["id"] for c in conversations(client, "restart")] == [turn["conversation_id"]]
        assert [(m["query"], m["answer"]) for m in messages(client, turn["conversation_id"], "restart")] == [
            ("remember me", FAKE_ANSWER)
        ]
        blocking_chat(client, "and now?", "restart", conversation_id=turn["conversation_id"])
        sent = upstream.chat_requests(stream=True)[-1].body["messages"]
        # The history is intact; the conversation keeps the configuration it was created with.
        assert [m["content"] for m in sent] == ["remember me", FAKE_ANSWER, "and now?"], sent
        assert len(messages(client, turn["conversation_id"], "restart")) == 2
        # A new conversation gets the changed configuration.
        blocking_chat(client, "fresh start", "restart")
        sent = upstream.chat_requests(stream=True)[-1].body["messages"]
        assert sent[0]["role"] == "system" and "Answer in one word." in sent[0]["content"], sent
        assert sent[-1]["content"] == "fresh start"

    with second.client("app-addedaddedaddedadded0001") as client:
        assert blocking_chat(client, "added key", "restart")["answer"] == FAKE_ANSWER
    with second.client(SUPPORT_KEY) as client:
        assert client.post("/chat-messages", json=chat_body(user="restart")).status_code == 401
    with second.client(OTHER_APP_KEY) as client:
        removed = client.post("/chat-messages", json=chat_body(user="restart"))
    assert removed.status_code in (401, 403), removed.text


def test_a_broken_apps_file_stops_start_up_with_a_message(tmp_path: Path) -> None:
    config = tmp_path / "apps.yaml"
    config.write_text("apps:\n  - name: ''\n    api_keys: [app-brokenbrokenbroken0001]\n")
    command = [
        *difychat_command(),
        "serve",
        "--port",
        str(free_port()),
        "--config",
        str(config),
        "--data-dir",
        str(tmp_path / "d"),
    ]
    result = subprocess.run(command, env=clean_env(), capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "apps[0] is invalid" in result.stdout + result.stderr
