"""The outermost ASGI middleware: a request id on every response and log line, and HTTP metrics.

It wraps even Starlette's error middleware, so the 500 that an unhandled exception becomes
carries ``X-Request-Id`` and is counted too. Per request it costs a header scan, two context
variable sets, and (with metrics on) one counter increment and one histogram observation on
label children resolved once per (method, route, status).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from difychat.server.observability import context
from difychat.server.observability.metrics import Metrics

HEADER = b"x-request-id"
UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_EVENT_STREAM = b"text/event-stream"


def route_templates(routes: Iterable[BaseRoute], prefix: str = "") -> dict[int, str]:
    """Each route (by identity) to its full path template, ``/v1/conversations/{conversation_id}``."""
    found: dict[int, str] = {}
    for route in routes:
        if isinstance(route, Mount):
            found.update(route_templates(route.routes, prefix + route.path))
        elif isinstance(route, Route):
            found[id(route)] = prefix + route.path
    return found


class RequestObserver:
    """``headers``: more headers every response carries (the API's ``X-Version``, say), added here
    rather than by one more middleware wrapping every message sent."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: dict[int, str],
        metrics: Metrics | None,
        headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        self.app = app
        self._headers = list(headers)
        self._routes = routes
        self._metrics = metrics
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == HEADER:
                request_id = context.sane_request_id(value)
                break
        if request_id is None:
            request_id = context.new_request_id()
        added = [(HEADER, request_id.encode()), *self._headers]
        metrics = self._metrics
        started = time.perf_counter()
        status = 500  # if the app fails before answering
        streaming = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", ())
                message["headers"] = [*headers, *added]
                if metrics is not None:
                    for name, value in headers:
                        if name == b"content-type":
                            if value.startswith(_EVENT_STREAM):
                                streaming = True
                                metrics.active_streams.inc()
                            break
            await send(message)

        tokens = context.enter(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            context.leave(tokens)
            if metrics is not None:
                if streaming:
                    metrics.active_streams.dec()
                self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        route = scope.get("route")
        template = self._routes.get(id(route), UNMATCHED) if route is not None else UNMATCHED
        method = scope["method"]
        if method not in _METHODS:
            method = "other"  # any method a client invents would be a new series
        key = (method, template, status)
        series = self._series.get(key)
        if series is None:
            assert self._metrics is not None
            series = self._series[key] = (
                self._metrics.http_requests.labels(method, template, str(status)),
                self._metrics.http_duration.labels(method, template),
            )
        series[0].inc()
        series[1].observe(elapsed)
