"""Request parsing with the contract's errors: 415 for a non-JSON body, 400 for a bad one,
413 past the size cap, pydantic's own text for field errors."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from difychat.server.errors import BadRequest, InvalidParam, PayloadTooLarge, UnsupportedMediaType

Model = TypeVar("Model", bound=BaseModel)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it grows past ``limit`` (never buffered past it)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request, limit: int, *, optional: bool = False) -> dict[str, Any]:
    """The JSON object in the body. With ``optional``, an empty body of any type reads as ``{}``."""
    body = await read_body(request, limit)
    if optional and not body.strip():
        return {}
    if not _is_json(request.headers.get("content-type", "")):
        raise UnsupportedMediaType()
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest() from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


def validate(model: type[Model], data: Any) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidParam(str(exc)) from None


def query(request: Request, model: type[Model]) -> Model:
    return validate(model, dict(request.query_params))


def user_of(data: dict[str, Any]) -> str | None:
    """``user`` from a JSON body; numbers are taken as their text, as Dify does."""
    value = data.get("user")
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        raise InvalidParam("user must be a string")
    return value
