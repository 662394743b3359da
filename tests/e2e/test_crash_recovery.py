"""``kill -9`` mid-stream: nothing stays "running", and at most about a second of the answer is lost."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from tests.e2e.conftest import DATABASES, Launcher, PostgresFactory, make_database
from tests.e2e.helpers import OpenStream, chat_body, messages, wait_for
from tests.fakes.upstream import FakeUpstream

# A short lease, so that the test does not wait half a minute for the dead process.
LEASE = {"DIFYCHAT_HEARTBEAT_SECONDS": "0.2", "DIFYCHAT_LEASE_SECONDS": "1.5"}
WORDS = [f"w{index:03d} " for index in range(400)]  # 5 characters every 20 ms: 8 s in all
GAP = 0.02


@pytest.mark.parametrize("kind", DATABASES)
def test_a_killed_server_leaves_an_interrupted_answer_with_what_it_had_streamed(
    launcher: Launcher, upstream: FakeUpstream, postgres_factory: PostgresFactory | None, kind: str
) -> None:
    database = make_database(kind, postgres_factory)
    upstream.behaviour.chunks = WORDS
    upstream.behaviour.gap = GAP
    first = launcher.new(database, env=LEASE)
    received = ""
    with (
        first.client() as client,
        client.stream(
            "POST", "/chat-messages", json=chat_body("tell me", user="crash", mode="streaming")
        ) as response,
    ):
        stream = OpenStream(response)
        started = time.monotonic()
        while time.monotonic() - started < 2.0:
            frame = stream.next_data()
            conversation_id = frame["conversation_id"]
            received += frame.get("answer", "")
        assert first.process is not None
        os.killpg(first.process.pid, signal.SIGKILL)
        first.process.wait(10)

    # Another process on the same database notices the dead lease and ends the answer.
    second = launcher.new(database, data_dir=first.data_dir, config=first.config, env=LEASE)
    with second.client() as client:

        def interrupted() -> dict[str, Any] | None:
            (message,) = messages(client, conversation_id, user="crash")
            return message if message["status"] == "error" else None

        message = wait_for(interrupted, timeout=15)
    assert message["error"] and "interrupted" in message["error"]
    saved = message["answer"]
    # What was saved is what had been streamed, at most about a second (50 words) behind.
    assert saved and received.startswith(saved)
    lost_words = (len(received) - len(saved)) // len(WORDS[0])
    assert lost_words <= 75, f"{lost_words} words lost"


def test_restarting_one_server_leaves_another_servers_answers_alone(
    launcher: Launcher, upstream: FakeUpstream
) -> None:
    database = make_database("sqlite", None)
    upstream.behaviour.chunks = WORDS[:150]
    upstream.behaviour.gap = GAP
    busy = launcher.new(database, env=LEASE)
    other = launcher.new(database, data_dir=busy.data_dir, config=busy.config, env=LEASE)
    with (
        busy.client() as client,
        client.stream(
            "POST", "/chat-messages", json=chat_body("tell me", user="calm", mode="streaming")
        ) as response,
    ):
        stream = OpenStream(response)
        conversation_id = stream.next_data()["conversation_id"]
        # The other server goes down hard and comes back while this answer streams.
        assert other.process is not None
        os.killpg(other.process.pid, signal.SIGKILL)
        other.process.wait(10)
        launcher.new(database, data_dir=busy.data_dir, config=busy.config, env=LEASE)
        frames = stream.rest()
    assert frames[-1].event == "message_end"
    with busy.client() as client:
        (message,) = messages(client, conversation_id, user="calm")
    assert message["status"] == "normal" and message["answer"] == "".join(WORDS[:150])
