"""One place that turns every failure into the contract's JSON error body."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.responses import JSON, error_body, error_response
from difychat.server.errors import AppError, MethodNotAllowed, NotFound

logger = logging.getLogger("difychat.api")

_BY_STATUS: dict[int, type[AppError]] = {404: NotFound, 405: MethodNotAllowed}


async def app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return error_response(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = _BY_STATUS.get(exc.status_code)
    if kind is not None:
        return error_response(kind())
    code = "bad_request" if exc.status_code == 400 else "http_error"
    return JSON(error_body(code, str(exc.detail), exc.status_code), status_code=exc.status_code)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSON({"message": "Internal Server Error", "code": "unknown", "status": 500}, status_code=500)


HANDLERS = {AppError: app_error, HTTPException: http_error, Exception: unexpected_error}
