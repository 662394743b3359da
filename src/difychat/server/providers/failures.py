"""How a provider's failures become the contract's errors: one table, used by every adapter.

The chat API contract (§2.2, §5.3) has three codes for a provider failure:
``model_currently_not_support`` (the model is not available), ``provider_not_initialize``
(no usable credentials) and ``completion_request_error`` (any other invoke error,
rate limits and timeouts included). All are HTTP 400. ``provider_quota_exceeded`` is
Dify's hosted-model quota, which difychat does not have: a provider's own quota or
rate limit is a ``completion_request_error``, as the contract says.

A failure before the first token becomes a JSON error; after it, an ``error`` event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import aiohttp
import orjson

from difychat.server.errors import ModelNotSupported, ProviderError, ProviderNotInitialized


class Failure(Enum):
    """What went wrong, when it is not an HTTP status."""

    TIMEOUT = "timeout"  # no answer within the configured timeout
    CONNECT = "connect"  # the endpoint cannot be reached
    CUT_OFF = "cut_off"  # the connection dropped in the middle of the answer
    TRANSPORT = "transport"  # any other network failure
    MALFORMED = "malformed"  # a body or stream event that cannot be read
    INCOMPLETE = "incomplete"  # the stream ended without its end marker
    LINE_TOO_LONG = "line_too_long"  # a line of the stream longer than the reader takes
    IN_STREAM = "in_stream"  # an error the provider reported inside the stream, of no known type
    NOT_CONFIGURED = "not_configured"  # credentials or endpoint missing


@dataclass(frozen=True, slots=True)
class Rule:
    error: type[ProviderError]
    # A str.format template over: label (the provider), status, detail (the provider's
    # message, or what was malformed), target (the URL).
    message: str


# --- the table --------------------------------------------------------------------------------

BY_STATUS: Mapping[int, Rule] = {
    401: Rule(ProviderError, "Incorrect API key provided"),
    404: Rule(ModelNotSupported, "[{label}] Error code: 404 - {detail}"),
    429: Rule(ProviderError, "[{label}] Rate limit exceeded: {detail}"),
}
ANY_OTHER_STATUS = Rule(ProviderError, "[{label}] Error code: {status} - {detail}")

BY_FAILURE: Mapping[Failure, Rule] = {
    Failure.TIMEOUT: Rule(ProviderError, "[{label}] Error: Request timed out."),
    Failure.CONNECT: Rule(ProviderError, "[{label}] Error: Connection error: cannot connect to {target}"),
    Failure.CUT_OFF: Rule(ProviderError, "[{label}] Error: the model's stream was cut off."),
    Failure.TRANSPORT: Rule(ProviderError, "[{label}] Error: {detail}"),
    Failure.MALFORMED: Rule(ProviderError, "[{label}] Error: malformed {detail}."),
    Failure.INCOMPLETE: Rule(
        ProviderError, "[{label}] Error: the model's stream ended before the answer was complete."
    ),
    Failure.LINE_TOO_LONG: Rule(
        ProviderError, "[{label}] Error: the model's stream sent a line longer than {detail}."
    ),
    Failure.IN_STREAM: Rule(ProviderError, "[{label}] Error: {detail}"),
    Failure.NOT_CONFIGURED: Rule(ProviderNotInitialized, "Provider {label} is not initialized: {detail}"),
}

# Error types named in a provider's error body (OpenAI's ``error.type``/``error.code``,
# Anthropic's ``error.type``), read as the HTTP status they stand for. An error reported
# inside a stream has no status of its own; its type selects the status row.
STATUS_OF_TYPE: Mapping[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "model_not_found": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


# --- applying it ------------------------------------------------------------------------------


def _render(
    rule: Rule, label: str, *, status: int | str = "", detail: str = "", target: str = ""
) -> ProviderError:
    return rule.error(rule.message.format(label=label, status=status, detail=detail, target=target))


def status_error(label: str, status: int, body: bytes) -> ProviderError:
    """An HTTP error answer of the provider."""
    _, detail = error_detail(body)
    return _render(BY_STATUS.get(status, ANY_OTHER_STATUS), label, status=status, detail=detail)


def in_stream_error(label: str, error: Any) -> ProviderError:
    """An error object the provider sent in place of the next stream event."""
    kind, detail = _read_error(error)
    status = STATUS_OF_TYPE.get(kind or "")
    if status is None:
        return _render(BY_FAILURE[Failure.IN_STREAM], label, detail=detail)
    return _render(BY_STATUS.get(status, ANY_OTHER_STATUS), label, status=status, detail=detail)


def failure(kind: Failure, label: str, detail: str = "", *, target: str = "") -> ProviderError:
    return _render(BY_FAILURE[kind], label, detail=detail, target=target)


def transport_error(label: str, exc: BaseException, target: str) -> ProviderError:
    """A network failure (aiohttp's exceptions, or the request's timeout)."""
    if isinstance(exc, asyncio.TimeoutError):
        return failure(Failure.TIMEOUT, label)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return failure(Failure.CONNECT, label, target=target)
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError):
        return failure(Failure.CUT_OFF, label)
    return failure(Failure.TRANSPORT, label, f"{type(exc).__name__}: {exc}")


def error_detail(body: bytes) -> tuple[str | None, str]:
    """The (type, message) of an error body: ``{"error": {"type", "message"}}`` (OpenAI and
    Anthropic alike), ``{"error": "text"}``, or the body's text."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, body.decode("utf-8", "replace")[:500]
    if isinstance(data, dict) and "error" in data:
        return _read_error(data["error"])
    return None, body.decode("utf-8", "replace")[:500]


def _read_error(error: Any) -> tuple[str | None, str]:
    if isinstance(error, dict):
        kind = error.get("type") or error.get("code")
        return (str(kind) if kind else None), str(error.get("message") or error)
    return None, str(error)
