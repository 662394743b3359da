"""A stand-in for ``difychat serve``, used only by the harness's smoke test.

It accepts the same command line, relays the fake upstream's tokens as Dify
``message`` events (``data: {json}\\n\\n``), ends with ``message_end``, answers
blocking requests, and honours ``POST /v1/chat-messages/{task_id}/stop``, so
that every difychat code path of the harness can be exercised before the real
server exists.  It stores nothing and is not a benchmark of anything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web


def _event(kind: str, conv: str, msg: str, created: int, task: str, **fields: object) -> bytes:
    payload = {
        "event": kind,
        "conversation_id": conv,
        "message_id": msg,
        "created_at": created,
        "task_id": task,
    }
    payload.update(fields)
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def make_app(base_url: str) -> web.Application:
    stopped: set[str] = set()
    app = web.Application()

    async def on_start(app: web.Application) -> None:
        app["s"] = aiohttp.ClientSession()

    async def on_stop(app: web.Application) -> None:
        await app["s"].close()

    app.on_startup.append(on_start)
    app.on_cleanup.append(on_stop)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def chat(req: web.Request) -> web.StreamResponse:
        body = await req.json()
        streaming = body.get("response_mode") == "streaming"
        conv = str(body.get("conversation_id") or uuid.uuid4())
        msg, task = str(uuid.uuid4()), str(uuid.uuid4())
        created = int(time.time())
        upstream_body = {
            "model": "fake-model",
            "messages": [{"role": "user", "content": body.get("query", "")}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        end: dict[str, Any] = {
            "id": msg,
            "metadata": {"annotation_reply": None, "retriever_resources": [], "usage": {}},
            "files": None,
        }
        if not streaming:
            async with req.app["s"].post(
                base_url + "/chat/completions", json={**upstream_body, "stream": False}
            ) as r:
                data = await r.json()
            return web.json_response(
                {
                    "event": "message",
                    "task_id": task,
                    "id": msg,
                    "message_id": msg,
                    "conversation_id": conv,
                    "mode": "chat",
                    "answer": data["choices"][0]["message"]["content"],
                    "metadata": end["metadata"],
                    "created_at": created,
                }
            )
        resp = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8"})
        await resp.prepare(req)
        async with req.app["s"].post(base_url + "/chat/completions", json=upstream_body) as r:
            async for line in r.content:
                if task in stopped:
                    break
                if not line.startswith(b"data: {"):
                    continue
                choices = json.loads(line[6:]).get("choices") or []
                text = choices[0].get("delta", {}).get("content") if choices else None
                if text:
                    await resp.write(
                        _event(
                            "message",
                            conv,
                            msg,
                            created,
                            task,
                            id=msg,
                            answer=text,
                            from_variable_selector=None,
                        )
                    )
        stopped.discard(task)
        await resp.write(_event("message_end", conv, msg, created, task, **end))
        await resp.write_eof()
        return resp

    async def stop(req: web.Request) -> web.Response:
        stopped.add(req.match_info["task_id"])
        return web.json_response({"result": "success"})

    app.router.add_get("/health", health)
    app.router.add_post("/v1/chat-messages", chat)
    app.router.add_post("/v1/chat-messages/{task_id}/stop", stop)
    return app


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="fake-difychat")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=5001)
    s.add_argument("--data-dir", type=Path)
    s.add_argument("--config", type=Path)
    s.add_argument("--workers", type=int, default=1)
    a = ap.parse_args(argv)
    m = re.search(r"base_url:\s*([^,}\s]+)", a.config.read_text()) if a.config else None
    if m is None:
        print("no base_url in the config", file=sys.stderr)
        return 2
    web.run_app(
        make_app(m.group(1).rstrip("/")),
        host=a.host,
        port=a.port,
        print=None,
        handle_signals=True,
        loop=asyncio.new_event_loop(),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
