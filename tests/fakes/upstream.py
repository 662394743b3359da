"""A fake OpenAI-compatible model server on loopback, with a scriptable behaviour.

It runs in its own thread and event loop, so the server under test talks to it
over real HTTP exactly as it would to a real model endpoint.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class ScriptedCall:
    """A tool call the fake model makes: ``arguments`` is sent as written (valid JSON or not)."""

    name: str
    arguments: str = "{}"
    id: str | None = None


@dataclass
class Round:
    """One scripted model answer: text chunks, then tool calls (streamed in pieces, interleaved)."""

    chunks: list[str] = field(default_factory=list)
    calls: list[ScriptedCall] = field(default_factory=list)
    usage: tuple[int, int] = (11, 5)
    ttft: float = 0.0
    hang: bool = False  # never finish: the client has to give up (a stop, a timeout)


@dataclass
class Behaviour:
    # Model calls that offer tools, and every streamed call, take the next round while any is left.
    rounds: list[Round] = field(default_factory=list)
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
    # /v1/embeddings, /v1/audio/transcriptions, /v1/audio/speech
    aux_status: int | None = None  # answer the auxiliary endpoints with this HTTP error
    transcript: str = "Hello from the fake transcriber."
    speech_gap: float = 0.0  # seconds between the two halves of a speech answer
    embedding_delay: float = 0.0  # seconds before an embeddings answer
    embedding_gate: threading.Event | None = None  # when set: embeddings answer once it is set


def fake_embedding(text: str, dimensions: int = 64) -> list[float]:
    """A bag of hashed lower-case words: texts sharing words get similar vectors."""
    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()):
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % dimensions] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def fake_speech(text: str, voice: str) -> bytes:
    """The bytes the fake "speaks": recognisable, so tests can check what was read aloud."""
    return b"ID3" + f"[{voice}]{text}".encode()


@dataclass
class Record:
    body: dict[str, Any]
    finished: bool = False
    disconnected: bool = False


class FakeUpstream:
    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.requests: list[Record] = []
        self.aux_requests: list[tuple[str, dict[str, Any]]] = []
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
        self.aux_requests = []

    def chat_requests(self, *, stream: bool | None = None) -> list[Record]:
        return [r for r in self.requests if stream is None or bool(r.body.get("stream")) == stream]

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/audio/transcriptions", self._transcriptions)
        app.router.add_post("/v1/audio/speech", self._speech)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

    def aux(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in self.aux_requests if p == path]

    def _aux_error(self) -> web.Response | None:
        b = self.behaviour
        return None if b.aux_status is None else web.json_response(b.error_body, status=b.aux_status)

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        authorization = request.headers.get("Authorization")
        self.aux_requests.append(("embeddings", {**body, "authorization": authorization}))
        if (error := self._aux_error()) is not None:
            return error
        await asyncio.sleep(self.behaviour.embedding_delay)
        if (gate := self.behaviour.embedding_gate) is not None:
            await asyncio.get_running_loop().run_in_executor(None, gate.wait, 30)
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": fake_embedding(t)} for i, t in enumerate(texts)
        ]
        return web.json_response({"object": "list", "data": data, "model": body.get("model")})

    async def _transcriptions(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        record = {
            "model": form.get("model"),
            "filename": getattr(upload, "filename", None),
            "content_type": getattr(upload, "content_type", None),
            "size": len(upload.file.read()) if isinstance(upload, web.FileField) else None,
            "authorization": request.headers.get("Authorization"),
        }
        self.aux_requests.append(("transcriptions", record))
        if (error := self._aux_error()) is not None:
            return error
        return web.json_response({"text": self.behaviour.transcript})

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.aux_requests.append(("speech", {**body, "authorization": request.headers.get("Authorization")}))
        if (error := self._aux_error()) is not None:
            return error
        audio = fake_speech(body["input"], body["voice"])
        response = web.StreamResponse(headers={"Content-Type": "audio/mpeg"})
        await response.prepare(request)
        half = len(audio) // 2
        await response.write(audio[:half])
        if self.behaviour.speech_gap:
            await asyncio.sleep(self.behaviour.speech_gap)
        await response.write(audio[half:])
        await response.write_eof()
        return response

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        record = Record(body)
        self.requests.append(record)
        b = self.behaviour
        if b.status is not None:
            record.finished = True
            return web.json_response(b.error_body, status=b.status)
        if b.rounds and (body.get("stream") or body.get("tools")):
            return await self._round(request, record, b.rounds.pop(0))
        if not body.get("stream"):
            record.finished = True
            return web.json_response(
                {
                    "id": "cmpl-fake",
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": b.completion},
                            "finish_reason": "stop",
                        }
                    ],
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

    async def _round(self, request: web.Request, record: Record, scripted: Round) -> web.StreamResponse:
        body = record.body
        calls: list[dict[str, Any]] = [
            {
                "id": call.id or f"call_{len(self.requests)}_{index}",
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for index, call in enumerate(scripted.calls)
        ]
        usage = {
            "prompt_tokens": scripted.usage[0],
            "completion_tokens": scripted.usage[1],
            "total_tokens": sum(scripted.usage),
        }
        finish = "tool_calls" if calls else "stop"
        if not body.get("stream"):
            record.finished = True
            message: dict[str, Any] = {"role": "assistant", "content": "".join(scripted.chunks) or None}
            if calls:
                message["tool_calls"] = calls
            choice = {"index": 0, "message": message, "finish_reason": finish}
            return web.json_response(
                {"id": "cmpl-fake", "object": "chat.completion", "choices": [choice], "usage": usage}
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(delta: dict[str, Any], finish_reason: str | None = None) -> None:
            chunk = {
                "id": "c",
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")

        try:
            if scripted.ttft:
                await asyncio.sleep(scripted.ttft)
            for text in scripted.chunks:
                await send({"content": text})
            if scripted.hang:
                # Until the client gives up (a stop): aiohttp does not cancel the handler for it.
                while request.transport is not None and not request.transport.is_closing():
                    await asyncio.sleep(0.02)
                record.disconnected = True
                return response
            # Each call's id and name first, then its arguments in two halves, calls interleaved.
            for index, call in enumerate(calls):
                await send(
                    {
                        "tool_calls": [
                            {
                                "index": index,
                                "id": call["id"],
                                "type": "function",
                                "function": {"name": call["function"]["name"], "arguments": ""},
                            }
                        ]
                    }
                )
            for half in (0, 1):
                for index, call in enumerate(calls):
                    arguments = call["function"]["arguments"]
                    middle = len(arguments) // 2
                    piece = arguments[:middle] if half == 0 else arguments[middle:]
                    if piece:
                        await send({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            await send({}, finish)
            if (body.get("stream_options") or {}).get("include_usage"):
                tail = {"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": usage}
                await response.write(b"data: " + json.dumps(tail).encode() + b"\n\n")
            await response.write(b"data: [DONE]\n\n")
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
            chunk = {
                "id": "c",
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
            }
            await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        if b.omit_done:
            return True
        final = {
            "id": "c",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        await response.write(b"data: " + json.dumps(final).encode() + b"\n\n")
        if b.usage is not None and (body.get("stream_options") or {}).get("include_usage"):
            usage = {
                "id": "c",
                "object": "chat.completion.chunk",
                "choices": [],
                "usage": {
                    "prompt_tokens": b.usage[0],
                    "completion_tokens": b.usage[1],
                    "total_tokens": sum(b.usage),
                },
            }
            await response.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        return True
