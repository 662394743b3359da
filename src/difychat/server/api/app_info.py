"""GET /parameters, /meta, /info, /site and /end-users/{id}: what an app says about itself."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.context import authenticate
from difychat.server.api.described import APP, describe
from difychat.server.api.ids import path_id
from difychat.server.api.responses import JSON
from difychat.server.api.wire import app_info as wire
from difychat.server.errors import EndUserNotFound


@describe(
    "The app's input form and features",
    APP,
    description="What a client needs to draw the app: its opening statement, suggested questions, "
    "input form, upload and speech settings.",
    response=wire.Parameters,
)
async def get_parameters(request: Request) -> Response:
    # No user: a ``?user=`` sent by SDKs is ignored.
    svc, app = await authenticate(request)
    reply = await svc.annotations.recent_settings(app)
    return JSON(wire.parameters(app.config, svc.app_info.limits, reply))


@describe("The app's tool icons", APP, response=wire.Meta)
async def get_meta(request: Request) -> Response:
    _, app = await authenticate(request)
    return JSON(wire.meta(app.config))


@describe("The app's name, description and mode", APP, response=wire.Info)
async def get_info(request: Request) -> Response:
    _, app = await authenticate(request)
    return JSON(wire.info(app))


@describe("The app's web page settings", APP, response=wire.Site)
async def get_site(request: Request) -> Response:
    _, app = await authenticate(request)
    return JSON(wire.site(app))


@describe("An end user of the app", APP, response=wire.EndUser)
async def get_end_user(request: Request) -> Response:
    svc, app = await authenticate(request)
    end_user_id = path_id(request, "end_user_id", EndUserNotFound)
    return JSON(wire.end_user(await svc.app_info.end_user(app, end_user_id)))
