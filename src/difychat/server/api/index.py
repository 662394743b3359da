"""GET /v1/ (welcome) and GET /health."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.context import services
from difychat.server.api.responses import JSON


async def welcome(request: Request) -> Response:
    version = services(request).dify_version
    return JSON({"welcome": "Dify OpenAPI", "api_version": "v1", "server_version": version})


async def health(request: Request) -> Response:
    return JSON({"status": "ok"})
