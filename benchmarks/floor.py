"""The floor: a minimal pass-through proxy on uvicorn (the same ASGI server as
difychat) that relays every request to the upstream and its response back,
byte for byte, and stores nothing.  It uses an aiohttp client, whose pooled
keep-alive connections hold up at high concurrency.

What difychat adds over this is what difychat owns.

Run: ``python -m benchmarks.floor --port 9200 --upstream http://127.0.0.1:9100``.
"""

from __future__ import annotations

import argparse
from typing import Any

import aiohttp
import uvicorn

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def make_app(upstream: str) -> Any:
    state: dict[str, aiohttp.ClientSession] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    state["s"] = aiohttp.ClientSession(
                        connector=aiohttp.TCPConnector(limit=0), auto_decompress=False
                    )
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await state["s"].close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"] == "/health":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        body = b""
        more = True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        headers = {
            k.decode(): v.decode() for k, v in scope["headers"] if k.decode().lower() not in HOP_HEADERS
        }
        url = (
            upstream + scope["path"] + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
        )
        async with state["s"].request(scope["method"], url, data=body, headers=headers) as resp:
            await send(
                {
                    "type": "http.response.start",
                    "status": resp.status,
                    "headers": [
                        (k.lower().encode(), v.encode())
                        for k, v in resp.headers.items()
                        if k.lower() not in HOP_HEADERS
                    ],
                }
            )
            async for chunk in resp.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="pass-through proxy (the floor)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:9100")
    ap.add_argument("--workers", type=int, default=1)
    a = ap.parse_args(argv)
    if a.workers != 1:
        ap.error("the floor runs one worker")
    uvicorn.run(
        make_app(a.upstream.rstrip("/")),
        host=a.host,
        port=a.port,
        log_level="warning",
        access_log=False,
        backlog=4096,
        timeout_keep_alive=30,
    )


if __name__ == "__main__":
    main()
