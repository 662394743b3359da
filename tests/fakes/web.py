"""A scriptable HTTP server on loopback for tools: web pages, search services, OpenAPI backends.

It runs in the test's own event loop. Handlers are set per path after it starts; every request
is recorded (method, path, query, headers, body) so a test can check what a tool sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import web
from multidict import CIMultiDict

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDict[str]
    body: bytes
    raw_path: str = ""  # as sent, percent-encoding kept
    query_string: str = ""


@dataclass
class FakeSite:
    host: str = "127.0.0.1"
    handlers: dict[tuple[str, str], Handler] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.handlers[(method.upper(), path)] = handler

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(
            Seen(
                request.method,
                request.path,
                dict(request.query),
                CIMultiDict(request.headers),
                body,
                request.raw_path.split("?", 1)[0],
                request.query_string,
            )
        )
        handler = self.handlers.get((request.method, request.path))
        if handler is None:
            return web.Response(status=404, text="not found")
        return await handler(request)

    async def __aenter__(self) -> FakeSite:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def page(body: str | bytes, content_type: str = "text/html", status: int = 200) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        data = body.encode() if isinstance(body, str) else body
        return web.Response(body=data, status=status, content_type=content_type)

    return handle


def redirect(location: str, status: int = 302) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": location})

    return handle
