"""Plain ASGI middleware: requests rid of NUL characters."""

from __future__ import annotations

from collections.abc import Awaitable
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Receive, Scope, Send


class NulFreeRequests:
    """Removes NUL characters from the path and the query string before any route reads them.

    The same rule as for JSON bodies (``parsing.decode_json``): nothing a client sends reaches a
    handler, and so the database, with a NUL in it. In a query string a NUL is ``%00`` or, from a
    lax client, a raw byte; only such a query string is decoded and encoded again (to the same
    values, without the NULs).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: the inner app's awaitable is handed back, so this layer holds no frame
        # for as long as the request runs (an open stream, say).
        if scope["type"] == "http":
            query: bytes = scope.get("query_string", b"")
            path: str = scope["path"]
            if b"%00" in query or b"\x00" in query or "\x00" in path:
                scope = dict(scope)
                pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
                clean = [(name.replace("\x00", ""), value.replace("\x00", "")) for name, value in pairs]
                scope["query_string"] = urlencode(clean).encode("ascii")
                scope["path"] = path.replace("\x00", "")
        return self.app(scope, receive, send)
