"""Raw-HTTP helpers for the end-to-end tests (synchronous httpx; the fake upstream has its own thread)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from tests.sse import Frame, parse_frames

FAKE_ANSWER = "Hello from the fake model."


def chat_body(query: str = "hi", user: str = "u1", mode: str = "blocking", **fields: Any) -> dict[str, Any]:
    return {"inputs": {}, "query": query, "user": user, "response_mode": mode, **fields}


def blocking_chat(client: httpx.Client, query: str = "hi", user: str = "u1", **fields: Any) -> dict[str, Any]:
    response = client.post("/chat-messages", json=chat_body(query, user, **fields))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    data: dict[str, Any] = response.json()
    return data


def streaming_chat(client: httpx.Client, query: str = "hi", user: str = "u1", **fields: Any) -> list[Frame]:
    """One complete streaming turn, checked by the strict frame parser."""
    body = chat_body(query, user, "streaming", **fields)
    with client.stream("POST", "/chat-messages", json=body) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        raw = response.read()
    return parse_frames(raw)


class OpenStream:
    """A streaming response read frame by frame, so that a test can act in the middle of it."""

    def __init__(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.read()
        self._chunks: Iterator[bytes] = response.iter_bytes()
        self.buffer = b""

    def next_data(self) -> dict[str, Any]:
        """The next data frame (pings are skipped)."""
        while True:
            head, sep, rest = self.buffer.partition(b"\n\n")
            if sep:
                self.buffer = rest
                if head == b"event: ping":
                    continue
                assert head.startswith(b"data: "), head
                return dict(json.loads(head[6:]))
            self.buffer += next(self._chunks)

    def rest(self) -> list[Frame]:
        for chunk in self._chunks:
            self.buffer += chunk
        return parse_frames(self.buffer) if self.buffer else []


def messages(client: httpx.Client, conversation_id: str, user: str = "u1") -> list[dict[str, Any]]:
    params: dict[str, str | int] = {"user": user, "conversation_id": conversation_id, "limit": 100}
    response = client.get("/messages", params=params)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def conversations(client: httpx.Client, user: str = "u1") -> list[dict[str, Any]]:
    response = client.get("/conversations", params={"user": user, "limit": 100})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def wait_for(check: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; its last value otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def answer_of(frames: list[Frame]) -> str:
    deltas = ("message", "agent_message")
    return "".join(f.data["answer"] for f in frames if f.data and f.data["event"] in deltas)
