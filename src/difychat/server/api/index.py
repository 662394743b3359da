"""GET /v1/ (welcome) and GET /health."""

from __future__ import annotations

from typing import Literal

from starlette.requests import Request
from starlette.responses import Response
from typing_extensions import TypedDict

from difychat.server.api.context import services
from difychat.server.api.described import SERVER, describe
from difychat.server.api.responses import JSON


class Welcome(TypedDict):
    welcome: str
    api_version: Literal["v1"]
    server_version: str


class Health(TypedDict):
    status: Literal["ok"]


@describe(
    "Welcome", SERVER, description="The Dify version this server answers as.", response=Welcome, public=True
)
async def welcome(request: Request) -> Response:
    version = services(request).dify_version
    return JSON({"welcome": "Dify OpenAPI", "api_version": "v1", "server_version": version})


@describe("Health check", SERVER, response=Health)
async def health(request: Request) -> Response:
    return JSON({"status": "ok"})
