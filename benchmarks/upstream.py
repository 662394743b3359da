"""A fake OpenAI-compatible upstream, written on raw asyncio so that it costs
as little CPU as possible and is never the bottleneck.

Speaks just enough HTTP/1.1 (keep-alive, chunked responses) for
``POST /v1/chat/completions`` (streaming and not), ``GET /v1/models`` and
``GET /health``.  Its behaviour is tunable at start and at run time:

* ``--ttft-ms``: delay before the first token;
* ``--gap-ms``: delay between tokens;
* ``--tokens``: answer length in tokens (one content chunk per token);
* ``--prompt-tokens``: the prompt token count reported in ``usage``.

A request that offers ``tools`` and does not end with a tool's result is answered with one
call of the first tool offered (after the time to first token, no text), as a model calling
tools would: the agent scenario's first round. ``calculator`` gets ``{"expression": "6 * 7"}``.

``POST /_bench/config`` with a JSON object of the same names (``ttft_ms``,
``gap_ms``, ``tokens``, ``prompt_tokens``) changes them for later requests;
``GET /_bench/stats`` returns request counters.

Run: ``python -m benchmarks.upstream --port 9100``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from typing import Any

from benchmarks import _loop

MODEL = "fake-model"
WORDS = ["Hello", " there", "!", " This", " is", " a", " fake", " answer", " from", " the", " bench"]


class Config:
    def __init__(self, ttft_ms: float, gap_ms: float, tokens: int, prompt_tokens: int) -> None:
        self.ttft_ms = ttft_ms
        self.gap_ms = gap_ms
        self.tokens = tokens
        self.prompt_tokens = prompt_tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "ttft_ms": self.ttft_ms,
            "gap_ms": self.gap_ms,
            "tokens": self.tokens,
            "prompt_tokens": self.prompt_tokens,
        }

    def update(self, d: dict[str, Any]) -> None:
        for k in ("ttft_ms", "gap_ms"):
            if k in d:
                setattr(self, k, float(d[k]))
        for k in ("tokens", "prompt_tokens"):
            if k in d:
                setattr(self, k, int(d[k]))


class Stats:
    def __init__(self) -> None:
        self.streaming = 0
        self.blocking = 0
        self.open_streams = 0
        self.max_open_streams = 0
        self.other = 0
        self.tool_calls = 0


def _chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def _token_text(i: int) -> str:
    return WORDS[i % len(WORDS)]


# Pre-encoded pieces of a streaming chunk; the id is spliced in per request.
_CHUNK_HEAD = b'data: {"id":"'
_CHUNK_MID = b'","object":"chat.completion.chunk","created":%d,"model":"' + MODEL.encode() + b'",'


def _json_str(s: str) -> bytes:
    return json.dumps(s).encode()


_ROLE_CHUNK = b'"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n'
_TOKEN_BYTES = [_json_str(_token_text(i)) for i in range(len(WORDS))]


class Upstream:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.stats = Stats()
        self.counter = 0

    # -- HTTP plumbing -------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) < 3:
                    return
                method, target, version = parts[0], parts[1], parts[2]
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if not line:
                        continue
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = b""
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    pieces = []
                    while True:
                        size_line = await reader.readuntil(b"\r\n")
                        size = int(size_line.split(b";")[0].strip(), 16)
                        if size == 0:
                            # trailers until empty line
                            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                                pass
                            break
                        pieces.append(await reader.readexactly(size))
                        await reader.readexactly(2)
                    body = b"".join(pieces)
                elif "content-length" in headers:
                    n = int(headers["content-length"])
                    if n:
                        body = await reader.readexactly(n)
                keep_alive = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
                path = target.split("?", 1)[0]
                await self.route(method, path, body, writer, keep_alive)
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    async def send_json(writer: asyncio.StreamWriter, status: int, obj: Any, keep_alive: bool) -> None:
        data = json.dumps(obj, separators=(",", ":")).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "OK")
        writer.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s"
            % (status, reason.encode(), len(data), b"" if keep_alive else b"connection: close\r\n", data)
        )
        await writer.drain()

    async def route(
        self, method: str, path: str, body: bytes, writer: asyncio.StreamWriter, keep_alive: bool
    ) -> None:
        if method == "POST" and path in ("/v1/chat/completions", "/chat/completions"):
            try:
                req = json.loads(body or b"{}")
            except ValueError:
                await self.send_json(writer, 400, {"error": {"message": "bad json"}}, keep_alive)
                return
            tools = req.get("tools")
            messages = req.get("messages") or [{}]
            if tools and messages[-1].get("role") != "tool":
                await self.call_tool(writer, tools[0], bool(req.get("stream")), keep_alive)
                return
            if req.get("stream"):
                include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
                await self.stream(writer, include_usage, keep_alive)
            else:
                await self.complete(writer, keep_alive)
            return
        self.stats.other += 1
        if method == "GET" and path in ("/v1/models", "/models"):
            await self.send_json(
                writer,
                200,
                {
                    "object": "list",
                    "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "bench"}],
                },
                keep_alive,
            )
        elif method == "GET" and path in ("/health", "/"):
            await self.send_json(writer, 200, {"status": "ok"}, keep_alive)
        elif path == "/_bench/config":
            if method == "POST":
                self.config.update(json.loads(body or b"{}"))
            await self.send_json(writer, 200, self.config.as_dict(), keep_alive)
        elif path == "/_bench/stats":
            await self.send_json(writer, 200, vars(self.stats), keep_alive)
        else:
            await self.send_json(writer, 404, {"error": {"message": "not found"}}, keep_alive)

    # -- OpenAI responses ----------------------------------------------

    def _usage(self, n: int) -> dict[str, int]:
        p = self.config.prompt_tokens
        return {"prompt_tokens": p, "completion_tokens": n, "total_tokens": p + n}

    async def complete(self, writer: asyncio.StreamWriter, keep_alive: bool) -> None:
        cfg = self.config
        self.stats.blocking += 1
        n = cfg.tokens
        delay = (cfg.ttft_ms + cfg.gap_ms * max(n - 1, 0)) / 1000.0
        if delay > 0:
            await asyncio.sleep(delay)
        self.counter += 1
        answer = "".join(_token_text(i) for i in range(n))
        await self.send_json(
            writer,
            200,
            {
                "id": f"chatcmpl-bench{self.counter}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": MODEL,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer},
                        "finish_reason": "stop",
                    }
                ],
                "usage": self._usage(n),
            },
            keep_alive,
        )

    async def call_tool(
        self, writer: asyncio.StreamWriter, tool: dict[str, Any], stream: bool, keep_alive: bool
    ) -> None:
        """One call of ``tool``: a chunked stream (id and name, then the arguments) or one JSON answer."""
        self.stats.tool_calls += 1
        self.counter += 1
        name = str((tool.get("function") or {}).get("name") or "tool")
        arguments = '{"expression": "6 * 7"}' if name == "calculator" else "{}"
        call_id = f"call_bench{self.counter}"
        if self.config.ttft_ms > 0:
            await asyncio.sleep(self.config.ttft_ms / 1000.0)
        if not stream:
            call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
            answer = {
                "id": f"chatcmpl-bench{self.counter}",
                "object": "chat.completion",
                "model": MODEL,
                "choices": [choice],
                "usage": self._usage(1),
            }
            await self.send_json(writer, 200, answer, keep_alive)
            return
        head = {"id": f"chatcmpl-bench{self.counter}", "object": "chat.completion.chunk", "model": MODEL}
        opening = {"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        deltas = [
            ({"role": "assistant", "tool_calls": [opening]}, None),
            ({"tool_calls": [{"index": 0, "function": {"arguments": arguments}}]}, None),
            ({}, "tool_calls"),
        ]
        events = [
            b"data: "
            + json.dumps({**head, "choices": [{"index": 0, "delta": d, "finish_reason": f}]}).encode()
            + b"\n\n"
            for d, f in deltas
        ]
        events.append(
            b"data: " + json.dumps({**head, "choices": [], "usage": self._usage(1)}).encode() + b"\n\n"
        )
        events.append(b"data: [DONE]\n\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
            b"transfer-encoding: chunked\r\n%s\r\n" % (b"" if keep_alive else b"connection: close\r\n")
        )
        writer.write(_chunk(b"".join(events)) + b"0\r\n\r\n")
        await writer.drain()

    async def stream(self, writer: asyncio.StreamWriter, include_usage: bool, keep_alive: bool) -> None:
        cfg = self.config
        n, ttft, gap = cfg.tokens, cfg.ttft_ms / 1000.0, cfg.gap_ms / 1000.0
        st = self.stats
        st.streaming += 1
        st.open_streams += 1
        st.max_open_streams = max(st.max_open_streams, st.open_streams)
        self.counter += 1
        prefix = _CHUNK_HEAD + b"chatcmpl-bench%d" % self.counter + _CHUNK_MID % int(time.time())
        try:
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
                b"transfer-encoding: chunked\r\n%s\r\n" % (b"" if keep_alive else b"connection: close\r\n")
            )
            if ttft > 0:
                await writer.drain()
                await asyncio.sleep(ttft)
            pending = [prefix + _ROLE_CHUNK]
            for i in range(n):
                if i and gap > 0:
                    writer.write(_chunk(b"".join(pending)))
                    pending.clear()
                    await writer.drain()
                    await asyncio.sleep(gap)
                pending.append(
                    prefix
                    + b'"choices":[{"index":0,"delta":{"content":'
                    + _TOKEN_BYTES[i % len(_TOKEN_BYTES)]
                    + b'},"finish_reason":null}]}\n\n'
                )
            pending.append(prefix + b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n')
            if include_usage:
                pending.append(
                    prefix + b'"choices":[],"usage":' + json.dumps(self._usage(n)).encode() + b"}\n\n"
                )
            pending.append(b"data: [DONE]\n\n")
            writer.write(_chunk(b"".join(pending)) + b"0\r\n\r\n")
            await writer.drain()
        finally:
            st.open_streams -= 1


async def serve(host: str, port: int, config: Config) -> None:
    up = Upstream(config)
    server = await asyncio.start_server(up.handle, host, port, backlog=4096, limit=1 << 20)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ttft-ms", type=float, default=0.0)
    ap.add_argument("--gap-ms", type=float, default=0.0)
    ap.add_argument("--tokens", type=int, default=8)
    ap.add_argument("--prompt-tokens", type=int, default=12)
    a = ap.parse_args(argv)
    if a.host not in ("127.0.0.1", "localhost", "::1"):
        ap.error("the fake upstream listens on loopback only")
    _loop.run(serve(a.host, a.port, Config(a.ttft_ms, a.gap_ms, a.tokens, a.prompt_tokens)))


if __name__ == "__main__":
    main()
