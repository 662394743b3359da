"""A fake Jina/Cohere-style rerank service over loopback HTTP: ``POST /v1/rerank``.

A document's score is the share of the query's words it contains; the answer lists the
documents best first (as the real services do), with their indexes.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web


def overlap(query: str, document: str) -> float:
    wanted = set(re.findall(r"\w+", query.lower()))
    have = set(re.findall(r"\w+", document.lower()))
    return len(wanted & have) / len(wanted) if wanted else 0.0


class FakeRerank:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status: int | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> FakeRerank:
        app = web.Application()
        app.router.add_post("/v1/rerank", self._rerank)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _rerank(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({**body, "authorization": request.headers.get("Authorization")})
        if self.status is not None:
            return web.json_response({"detail": "rerank exploded"}, status=self.status)
        scored = [
            {"index": i, "relevance_score": overlap(body["query"], doc)}
            for i, doc in enumerate(body["documents"])
        ]
        scored.sort(key=lambda item: -float(item["relevance_score"]))
        return web.json_response({"model": body.get("model"), "results": scored[: body.get("top_n")]})
