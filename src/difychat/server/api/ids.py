"""Ids taken from requests, each failing the way the contract says for where it came from.

* A path id that is not a UUID is answered as an unknown id: ``path_id`` raises the error the
  resource gives for "not found" (404 ``not_found`` unless the contract names another).
* An id in a body or query string that is not a UUID is a bad parameter: ``optional_id`` inside
  pydantic validators, ``query_id`` elsewhere; both give 400 ``invalid_param`` and read a blank
  value as absent.
* ``known_id`` is for a body id whose malformed value the contract answers as "not found".
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from difychat.server.domain.values import parse_uuid
from difychat.server.errors import AppError, InvalidParam, NotFound


def known_id(value: object, error: type[AppError] = NotFound, message: str | None = None) -> str:
    """``value`` as a canonical UUID, else ``error(message)``."""
    found = parse_uuid(value)
    if found is None:
        raise error(message)
    return found


def path_id(request: Request, name: str, error: type[AppError] = NotFound, message: str | None = None) -> str:
    """The UUID path parameter ``name``; a malformed one fails as an unknown id does."""
    return known_id(request.path_params[name], error, message)


def optional_id(value: Any, field: str) -> str | None:
    """For pydantic validators: blank is None, a UUID is canonical, anything else a ValueError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    found = parse_uuid(value.strip()) if isinstance(value, str) else None
    if found is None:
        raise ValueError(f"{field} must be a valid UUID")
    return found


def query_id(value: str | None, field: str) -> str | None:
    """An optional id read outside a pydantic model: blank is None, a malformed one is 400."""
    try:
        return optional_id(value, field)
    except ValueError as exc:
        raise InvalidParam(str(exc)) from None
