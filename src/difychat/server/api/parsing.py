"""Request parsing with the contract's errors: 415 for a non-JSON body, 400 for a bad one,
413 past the size cap, pydantic's own text for field errors.

Two rules hold for every JSON body here, so that no handler has to repeat them per field:

* NUL characters are removed from every string, keys included (the contract removes them from
  ``query`` and ``inputs``; PostgreSQL cannot store them in text at all). Query strings and paths
  get the same rule in ``middleware.NulFreeRequests``, form fields and file names in the
  multipart readers.
* A body nested deeper than ``MAX_JSON_DEPTH`` is refused with 400 ``bad_request``, as a body too
  deep for the JSON reader itself is: nothing downstream (validation, storing JSON columns,
  encoding it again) has to cope with unbounded nesting.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from difychat.server.errors import BadRequest, InvalidParam, PayloadTooLarge, UnsupportedMediaType

Model = TypeVar("Model", bound=BaseModel)

# Arrays and objects inside one another, the body itself counting as one level.
MAX_JSON_DEPTH = 64
TOO_DEEP = f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels."
_NUL_ESCAPE = b"\\u0000"  # the only way a JSON text can carry a NUL character


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
    data = decode_json(body)
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    return data


def decode_json(body: bytes) -> Any:
    """A JSON text as Python values, without NUL characters, at most ``MAX_JSON_DEPTH`` deep;
    400 ``bad_request`` otherwise."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest() from None
    # Most bodies can be neither too deep nor carry a NUL; both are told from the bytes alone.
    nested = body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH
    if nested or _NUL_ESCAPE in body:
        data = _cleaned(data)
    return data


def _cleaned(data: Any) -> Any:
    """``data`` with NULs removed from its strings and keys; BadRequest past ``MAX_JSON_DEPTH``.

    Iterative, so that no depth the JSON reader accepts can exhaust Python's stack here."""
    root: list[Any] = [data]
    # (container, key or index, value, depth of the value)
    stack: list[tuple[Any, Any, Any, int]] = [(root, 0, data, 1)]
    while stack:
        parent, key, value, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                parent[key] = value.replace("\x00", "")
        elif isinstance(value, list):
            if depth > MAX_JSON_DEPTH:
                raise BadRequest(TOO_DEEP)
            stack.extend((value, index, item, depth + 1) for index, item in enumerate(value))
        elif isinstance(value, dict):
            if depth > MAX_JSON_DEPTH:
                raise BadRequest(TOO_DEEP)
            if any("\x00" in name for name in value):
                value = {name.replace("\x00", ""): item for name, item in value.items()}
                parent[key] = value
            stack.extend((value, name, item, depth + 1) for name, item in value.items())
    return root[0]


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
