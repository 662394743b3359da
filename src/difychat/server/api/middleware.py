"""Headers every response carries (``X-Version``, ``X-Env``), as plain ASGI middleware."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class VersionHeaders:
    def __init__(self, app: ASGIApp, version: str, env: str) -> None:
        self.app = app
        self.headers = [(b"x-version", version.encode()), (b"x-env", env.encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)
