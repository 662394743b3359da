"""A fake OpenAI-compatible model server on loopback, with a scriptable behaviour.

It runs in its own thread and event loop, so the server under test talks to it
over real HTTP exactly as it would to a real model endpoint.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Behaviour:
    chunks: list[str] = field(default_factory=lambda: ["Hello", " from", " the", " fake", " model."])
    ttft: float = 0.0  # seconds before the first chunk
    gap: float = 0.0  # seconds between chunks
    usage: tuple[int, int] | None = (11, 5)
    status: int | None = None  # answer with this HTTP error instead
    error_body: dict[str, Any] = field(default_factory=lambda: {"error": {"message": "upstream exploded"}})
    cut_after: int | None = None  # drop the connection after this many chunks
    malformed_after: int | None = None  # send a broken chunk after this many chunks
    error_event_after: int | None = None  # send an in-stream {"error": ...} after this many chunks
    omit_done: bool = False  # end the stream with neither finish_reason nor [DONE]
    completion: str = '{"Language Type": "English", "Your Reasoning": "short", "Your Output": "A fake title"}'


@dataclass
class Record:
    body: dict[str, Any]
    finished: bool = False
    disconnected: bool = False


class FakeUpstream:
    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.requests: list[Record] = []
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-upstream", daemon=True)
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeUpstream:
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

    def chat_requests(self, *, stream: bool | None = None) -> list[Record]:
        return [r for r in self.requests if stream is None or bool(r.body.get("stream")) == stream]

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        record = Record(body)
        self.requests.append(record)
        b = self.behaviour
        if b.status is not None:
            record.finished = True
            return web.json_response(b.error_body, status=b.status)
        if not body.get("stream"):
            record.finished = True
            return web.json_response(
                {
                    "id": "cmpl-fake",
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": b.completion},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
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

    async def _stream(
        self, request: web.Request, response: web.StreamResponse, body: dict[str, Any], b: Behaviour
    ) -> bool:
        """Write the scripted stream; False when it was cut on purpose."""
        if b.ttft:
            await asyncio.sleep(b.ttft)
        for index, text in enumerate(b.chunks):
            if index == b.cut_after:
                if request.transport is not None:
                    request.transport.abort()
                return False
            if index == b.malformed_after:
                await response.write(b"data: {not json\n\n")
            if index == b.error_event_after:
                await response.write(b'data: {"error": {"message": "overloaded mid-stream"}}\n\n')
            if index and b.gap:
                await asyncio.sleep(b.gap)
            chunk = {"id": "c", "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        if b.omit_done:
            return True
        final = {"id": "c", "object": "chat.completion.chunk",
                 "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        await response.write(b"data: " + json.dumps(final).encode() + b"\n\n")
        if b.usage is not None and (body.get("stream_options") or {}).get("include_usage"):
            usage = {"id": "c", "object": "chat.completion.chunk", "choices": [],
                     "usage": {"prompt_tokens": b.usage[0], "completion_tokens": b.usage[1],
                               "total_tokens": sum(b.usage)}}
            await response.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        return True
