"""A fake Anthropic Messages API (``POST /v1/messages``) on loopback, with a scriptable behaviour.

Like ``tests/fakes/upstream.py``, it runs in its own thread and event loop, so the
server under test talks to it over real HTTP. It speaks the documented wire
format: the error body ``{"type": "error", "error": {"type", "message"}}`` and the
stream of ``message_start``, ``content_block_*``, ``message_delta``, ``message_stop``,
``ping`` and ``error`` events.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.upstream import Round

# HTTP status -> Anthropic's error type, as documented.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass
class Behaviour:
    # Model calls that offer tools, and every streamed call, take the next round while any is left
    # (``Round`` as for the OpenAI-compatible fake: text, then ``tool_use`` blocks).
    rounds: list[Round] = field(default_factory=list)
    chunks: list[str] = field(default_factory=lambda: ["Hello", " from", " the", " fake", " Claude."])
    ttft: float = 0.0  # seconds before the first text
    gap: float = 0.0  # seconds between texts
    usage: tuple[int, int] = (13, 6)  # input tokens (message_start), output tokens (message_delta)
    cache_read: int = 0  # cache_read_input_tokens in message_start
    stop_reason: str = "end_turn"
    status: int | None = None  # answer with this HTTP error instead
    error_message: str = "something went wrong"
    cut_after: int | None = None  # drop the connection after this many texts
    malformed_after: int | None = None  # send a broken event after this many texts
    error_event_after: int | None = None  # send an error event after this many texts
    error_event_type: str = "overloaded_error"
    omit_stop: bool = False  # end the stream without message_stop
    completion: str = "A complete answer from the fake Claude."  # the non-streaming answer


@dataclass
class Record:
    body: dict[str, Any]
    headers: dict[str, str]
    finished: bool = False
    disconnected: bool = False


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class FakeAnthropic:
    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.requests: list[Record] = []
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-anthropic", daemon=True)
        self.port = 0

    @property
    def base_url(self) -> str:
        """Anthropic's base URL has no ``/v1``: the client appends ``/v1/messages``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeAnthropic:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def reset(self) -> None:
        self.behaviour = Behaviour()
        self.requests = []

    def last(self) -> Record:
        return self.requests[-1]

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self._messages)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def error_body(self, status: int) -> dict[str, Any]:
        kind = ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": self.behaviour.error_message}}

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        record = Record(body, dict(request.headers))
        self.requests.append(record)
        b = self.behaviour
        if b.status is not None:
            record.finished = True
            return web.json_response(self.error_body(b.status), status=b.status)
        if request.headers.get("anthropic-version") != "2023-06-01" or "max_tokens" not in body:
            record.finished = True
            return web.json_response(self.error_body(400), status=400)
        if b.rounds and (body.get("stream") or body.get("tools")):
            return await self._round(request, record, b.rounds.pop(0))
        if not body.get("stream"):
            record.finished = True
            return web.json_response(
                {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": body["model"],
                    "content": [{"type": "text", "text": b.completion}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": 9, "output_tokens": 4},
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            record.finished = await self._stream(request, response, body, b)
        except asyncio.CancelledError:
            record.disconnected = True
            raise
        except ConnectionResetError:
            record.disconnected = True
        return response

    async def _round(self, request: web.Request, record: Record, scripted: Round) -> web.StreamResponse:
        body = record.body
        calls = [
            (call.id or f"toolu_{len(self.requests)}_{index}", call.name, call.arguments)
            for index, call in enumerate(scripted.calls)
        ]
        text = "".join(scripted.chunks)
        stop_reason = "tool_use" if calls else "end_turn"
        if not body.get("stream"):
            record.finished = True
            content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
            for call_id, name, arguments in calls:
                content.append(
                    {"type": "tool_use", "id": call_id, "name": name, "input": json.loads(arguments)}
                )
            return web.json_response(
                {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": body["model"],
                    "content": content,
                    "stop_reason": stop_reason,
                    "stop_sequence": None,
                    "usage": {"input_tokens": scripted.usage[0], "output_tokens": scripted.usage[1]},
                }
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            message = {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": scripted.usage[0], "output_tokens": 1},
            }
            await response.write(sse("message_start", {"type": "message_start", "message": message}))
            if scripted.ttft:
                await asyncio.sleep(scripted.ttft)
            index = 0
            if scripted.chunks:
                block = {"type": "text", "text": ""}
                await response.write(
                    sse(
                        "content_block_start",
                        {"type": "content_block_start", "index": 0, "content_block": block},
                    )
                )
                for piece in scripted.chunks:
                    delta = {"type": "text_delta", "text": piece}
                    await response.write(
                        sse(
                            "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
                        )
                    )
                await response.write(sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
                index = 1
            if scripted.hang:
                # Until the client gives up (a stop): aiohttp does not cancel the handler for it.
                while request.transport is not None and not request.transport.is_closing():
                    await asyncio.sleep(0.02)
                record.disconnected = True
                return response
            for offset, (call_id, name, arguments) in enumerate(calls):
                tool_block: dict[str, Any] = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
                position = index + offset
                await response.write(
                    sse(
                        "content_block_start",
                        {"type": "content_block_start", "index": position, "content_block": tool_block},
                    )
                )
                middle = len(arguments) // 2
                for piece in (arguments[:middle], arguments[middle:]):
                    if piece:
                        delta = {"type": "input_json_delta", "partial_json": piece}
                        await response.write(
                            sse(
                                "content_block_delta",
                                {"type": "content_block_delta", "index": position, "delta": delta},
                            )
                        )
                await response.write(
                    sse("content_block_stop", {"type": "content_block_stop", "index": position})
                )
            await response.write(
                sse(
                    "message_delta",
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                        "usage": {"output_tokens": scripted.usage[1]},
                    },
                )
            )
            await response.write(sse("message_stop", {"type": "message_stop"}))
            record.finished = True
        except asyncio.CancelledError:
            record.disconnected = True
            raise
        except ConnectionResetError:
            record.disconnected = True
        return response

    async def _stream(
        self, request: web.Request, response: web.StreamResponse, body: dict[str, Any], b: Behaviour
    ) -> bool:
        """Write the scripted stream; False when it was cut on purpose."""
        usage = {
            "input_tokens": b.usage[0],
            "output_tokens": 1,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": b.cache_read,
        }
        message = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        await response.write(sse("message_start", {"type": "message_start", "message": message}))
        await response.write(sse("ping", {"type": "ping"}))
        if b.ttft:
            await asyncio.sleep(b.ttft)
        await response.write(
            sse(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            )
        )
        for index, text in enumerate(b.chunks):
            if index == b.cut_after:
                if request.transport is not None:
                    request.transport.abort()
                return False
            if index == b.malformed_after:
                await response.write(b"event: content_block_delta\ndata: {not json\n\n")
            if index == b.error_event_after:
                await response.write(
                    sse(
                        "error",
                        {"type": "error", "error": {"type": b.error_event_type, "message": "Overloaded"}},
                    )
                )
                return True
            if index and b.gap:
                await asyncio.sleep(b.gap)
            await response.write(
                sse(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": text},
                    },
                )
            )
        await response.write(sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
        await response.write(
            sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": b.stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": b.usage[1]},
                },
            )
        )
        if b.omit_stop:
            return True
        await response.write(sse("message_stop", {"type": "message_stop"}))
        return True
