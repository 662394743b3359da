"""Fakes for the client tests: a scripted server behind ``httpx.MockTransport``."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx

BASE_URL = "http://dify.test/v1"
API_KEY = "app-test0000000000000000000000"

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class Chunks(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body delivered in exactly the given pieces; remembers whether it was closed.

    An exception among the pieces is raised when the reader reaches it (a connection that
    breaks mid-body).
    """

    def __init__(self, *pieces: bytes | BaseException) -> None:
        self.pieces = pieces
        self.closed = False
        self.delivered = 0

    def __iter__(self) -> Iterator[bytes]:
        for piece in self.pieces:
            if isinstance(piece, BaseException):
                raise piece
            self.delivered += 1
            yield piece

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            if isinstance(piece, BaseException):
                raise piece
            self.delivered += 1
            yield piece

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


def sse_response(*pieces: bytes | BaseException, status: int = 200) -> tuple[httpx.Response, Chunks]:
    body = Chunks(*pieces)
    response = httpx.Response(
        status, headers={"content-type": "text/event-stream; charset=utf-8"}, stream=body
    )
    return response, body


def event(payload: dict[str, Any]) -> bytes:
    """One Dify data frame: ``data: <compact json>\\n\\n``."""
    return b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def error_body(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message, "status": status})


class FakeServer:
    """Answers each request with the next scripted reply and records what it received."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[httpx.Request] = []
        self.default: Reply | None = None

    def add(self, *replies: Reply) -> FakeServer:
        self.replies.extend(replies)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if self.replies:
            reply = self.replies.popleft()
        elif self.default is not None:
            reply = self.default
        else:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, httpx.Response):
            return reply
        return reply(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def last_json(self) -> Any:
        return json.loads(self.last.content)
