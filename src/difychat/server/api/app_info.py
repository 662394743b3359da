"""GET /parameters, /meta, /info, /site and /end-users/{id}: what an app says about itself."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.context import authenticate
from difychat.server.api.ids import path_id
from difychat.server.api.responses import JSON
from difychat.server.domain.apps import WORKSPACE_ID
from difychat.server.errors import EndUserNotFound
from difychat.server.services import app_info
from difychat.server.store.common import Record


async def get_parameters(request: Request) -> Response:
    # No user: a ``?user=`` sent by SDKs is ignored.
    svc, app = await authenticate(request)
    return JSON(svc.app_info.parameters(app, await svc.annotations.settings(app)))


async def get_meta(request: Request) -> Response:
    _, app = await authenticate(request)
    return JSON(app_info.meta(app.config))


async def get_info(request: Request) -> Response:
    _, app = await authenticate(request)
    return JSON(app_info.info(app))


async def get_site(request: Request) -> Response:
    _, app = await authenticate(request)
    return JSON(app_info.site(app))


async def get_end_user(request: Request) -> Response:
    svc, app = await authenticate(request)
    end_user_id = path_id(request, "end_user_id", EndUserNotFound)
    row = await svc.app_info.end_user(app, end_user_id)
    return JSON(end_user(row))


def _iso(value: datetime) -> str:
    return value.replace(microsecond=0).isoformat() + "Z"


def end_user(row: Record) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "tenant_id": WORKSPACE_ID,
        "app_id": str(row.app_id),
        "type": "service_api",
        "external_user_id": row.session_id,
        "name": None,
        "is_anonymous": bool(row.is_anonymous),
        "session_id": row.session_id,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.created_at),
    }
