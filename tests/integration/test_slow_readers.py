"""A client that stops reading costs a bounded amount of memory, and its answer is still saved."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from datetime import datetime

import pytest

from difychat.server.domain.events import TextDelta
from difychat.server.generation.registry import END_OF_STREAM, Generation
from tests.integration.conftest import PLAIN_KEY, ServerFactory

pytestmark = pytest.mark.anyio

CHUNK = "word " * 200  # 1,000 characters per delta
CHUNKS = 600  # a 600 kB answer


async def test_a_stream_reader_that_falls_behind_is_detached_and_holds_no_more_than_the_cap() -> None:
    generation = Generation(
        task_id="t",
        message_id="m",
        conversation_id="c",
        app_id="a",
        end_user_id="u",
        created_at=datetime(2025, 1, 1),
        max_unread_bytes=64 * 1024,
    )
    peak = 0
    for _ in range(CHUNKS):
        generation.emit(TextDelta(CHUNK))
        peak = max(peak, generation.unread_bytes)
    assert peak <= 64 * 1024
    assert generation.lagged and generation.queue is None
    # The reader, when it comes back, finds the stream over instead of megabytes of backlog.
    assert generation.take_nowait() is END_OF_STREAM


async def test_a_stalled_client_is_disconnected_and_its_long_answer_still_saved(
    make_server: ServerFactory,
) -> None:
    server = await make_server(stream_max_unread_bytes=64 * 1024, stream_send_timeout=1.0)
    server.upstream.behaviour.chunks = [CHUNK] * CHUNKS
    host, port = server.base_url.removeprefix("http://").split(":")
    body = json.dumps(
        {"query": "long", "inputs": {}, "user": "stalled", "response_mode": "streaming"}
    ).encode()
    request = (
        f"POST /v1/chat-messages HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {PLAIN_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, int(port)))
    await loop.sock_sendall(sock, request)

    # The client reads nothing; the answer is produced and saved all the same. A message still
    # being answered is listed too (its status "normal", as in Dify, its answer the text saved so
    # far), so the whole answer is what is waited for.
    saved = ""
    async with server.client() as client:
        deadline = time.monotonic() + 30
        while saved != CHUNK * CHUNKS:
            assert time.monotonic() < deadline, (
                f"the stalled stream's answer was not saved: {len(saved)} chars"
            )
            await asyncio.sleep(0.2)
            listed = (await client.get("/conversations", params={"user": "stalled"})).json()["data"]
            if listed:
                messages = await client.get(
                    "/messages", params={"user": "stalled", "conversation_id": listed[0]["id"]}
                )
                (message,) = messages.json()["data"]
                assert message["status"] == "normal", message["error"]
                saved = message["answer"]

    # Once the send timeout has passed, the server has given up on the connection: reading now
    # drains what was already in flight and reaches its end, with no message_end in it.
    await asyncio.sleep(1.5)
    received = bytearray()
    while True:
        data = await asyncio.wait_for(loop.sock_recv(sock, 65536), 10)
        if not data:
            break
        received += data
    sock.close()
    assert b"HTTP/1.1 200" in received[:64]
    assert b'"event":"message_end"' not in received
    # What was in flight (the kernel's socket buffers, which grow under load, and the server's
    # write buffer) is far less than the answer: the rest was never sent.
    assert len(received) < len(CHUNK) * CHUNKS // 2


async def test_a_reader_waiting_on_a_silent_model_is_not_cut_by_the_send_timeout(
    make_server: ServerFactory,
) -> None:
    # The send timeout is for a client that reads nothing while a send waits; a stream whose
    # model is silent between tokens for longer than that (and no ping due) is not stalled.
    server = await make_server(stream_send_timeout=0.3, ping_interval=5.0)
    server.upstream.behaviour.chunks = ["one", " two", " three"]
    server.upstream.behaviour.gap = 0.6
    async with server.client() as client:
        body = {"query": "slow", "inputs": {}, "user": "patient", "response_mode": "streaming"}
        async with client.stream("POST", "/chat-messages", json=body) as response:
            text = (await response.aread()).decode()
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    assert response.status_code == 200 and events[-1]["event"] == "message_end"
    assert "".join(e["answer"] for e in events if e["event"] == "message") == "one two three"
