"""JSON responses: compact UTF-8 via orjson, with an explicit charset."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from starlette.responses import Response
from typing_extensions import TypedDict

from difychat.server.errors import AppError, RateLimited

JSON_MEDIA_TYPE = "application/json; charset=utf-8"


class JSON(Response):
    media_type = JSON_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ErrorBody(TypedDict):
    """Every failure's body (``api/errors.py``), keys in this order."""

    code: str
    message: str
    status: int


def error_body(code: str, message: str, status: int) -> dict[str, Any]:
    return {"code": code, "message": message, "status": status}


def error_response(error: AppError) -> JSON:
    headers = {"WWW-Authenticate": 'Bearer realm="api"'} if error.status == 401 else None
    if isinstance(error, RateLimited):
        headers = {"Retry-After": str(error.retry_after)}
    return JSON(
        error_body(error.code, error.message, error.status), status_code=error.status, headers=headers
    )


class Success(TypedDict):
    result: Literal["success"]


SUCCESS = {"result": "success"}


def no_content() -> Response:
    return Response(status_code=204)
