"""Exceptions raised by the difychat client.

The hierarchy::

    DifyError
    ├── DifyConfigError                 missing API key or user (raised before any I/O)
    ├── ResponseDecodeError             a 2xx body that is not what the endpoint promises
    ├── IncompleteStreamError           a stream that ended without ``message_end`` or ``error``
    ├── APIConnectionError              no response: DNS, refused, reset, broken stream
    │   └── APITimeoutError
    └── APIStatusError                  the server answered with an error (or an ``error`` event)
        ├── BadRequestError             400
        │   ├── InvalidParamError           code ``invalid_param``
        │   │   └── BlockingModeNotSupportedError   an agent app asked for a blocking answer
        │   ├── AppUnavailableError         code ``app_unavailable``
        │   ├── NotChatAppError             code ``not_chat_app``
        │   ├── CompletionRequestError      code ``completion_request_error``
        │   ├── ProviderNotInitializeError  code ``provider_not_initialize``
        │   ├── ProviderQuotaExceededError  code ``provider_quota_exceeded``
        │   └── ModelNotSupportedError      code ``model_currently_not_support``
        ├── AuthenticationError         401
        ├── PermissionDeniedError       403
        ├── NotFoundError               404
        ├── PayloadTooLargeError        413
        ├── UnsupportedMediaTypeError   415
        ├── RateLimitError              429, or code ``too_many_requests`` / ``rate_limit_error``
        └── InternalServerError         5xx

The body's ``code`` decides first and the HTTP status second, so an ``error`` event inside a
stream (HTTP 200, ``{"code": "completion_request_error", "status": 400, ...}``) raises the same
class as the blocking call would.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AppUnavailableError",
    "AuthenticationError",
    "BadRequestError",
    "BlockingModeNotSupportedError",
    "CompletionRequestError",
    "DifyConfigError",
    "DifyError",
    "IncompleteStreamError",
    "InternalServerError",
    "InvalidParamError",
    "ModelNotSupportedError",
    "NotChatAppError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProviderNotInitializeError",
    "ProviderQuotaExceededError",
    "RateLimitError",
    "ResponseDecodeError",
    "UnsupportedMediaTypeError",
]


class DifyError(Exception):
    """Base class of every exception this package raises."""


class DifyConfigError(DifyError, ValueError):
    """The client lacks something it needs before it can send a request (an API key, a user)."""


class ResponseDecodeError(DifyError):
    """A successful response whose body could not be decoded into the promised type."""

    def __init__(self, message: str, *, response: httpx.Response | None = None) -> None:
        super().__init__(message)
        self.response = response


class IncompleteStreamError(DifyError):
    """The event stream ended before ``message_end`` or ``error`` arrived.

    Dify ends the body without an error event when the server itself fails mid-answer; the
    answer received so far is on the stream object (``stream.answer``).
    """


class APIConnectionError(DifyError):
    """The request did not produce a response (or the response broke off mid-body)."""

    def __init__(self, message: str = "Connection error.", *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request = request


class APITimeoutError(APIConnectionError):
    """The request timed out."""

    def __init__(self, message: str = "Request timed out.", *, request: httpx.Request | None = None) -> None:
        super().__init__(message, request=request)


class APIStatusError(DifyError):
    """The server reported an error.

    Attributes:
        status_code: the HTTP status, or for an ``error`` stream event the event's ``status``.
        code: Dify's machine-readable code (``"not_found"``, ``"invalid_param"``...), or ``None``
            when the body was not a Dify error object (an HTML 404 page, a proxy error).
        message: the human-readable message from the body (or the reason phrase).
        body: the decoded JSON body, or the raw text when it was not JSON.
        response: the HTTP response (for a stream error, the 200 stream response).
        in_stream: true when the error arrived as an ``error`` event inside a stream.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None,
        body: Any,
        response: httpx.Response | None = None,
        in_stream: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.body = body
        self.response = response
        self.in_stream = in_stream

    def __str__(self) -> str:
        code = f" {self.code}" if self.code else ""
        return f"{self.status_code}{code}: {self.message}"

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(status_code={self.status_code!r}, code={self.code!r}, message={self.message!r})"


class BadRequestError(APIStatusError):
    """HTTP 400."""


class InvalidParamError(BadRequestError):
    """``invalid_param``: a request field (or the app's input form) rejected the request."""


class BlockingModeNotSupportedError(InvalidParamError):
    """Dify's agent apps answer only in streaming mode (``send_message`` is refused).

    Dify sends 400 ``invalid_param`` "Agent Chat App does not support blocking mode"; the
    message of this error adds what to do instead: ``stream_message(...).collect()`` returns the
    same :class:`~difychat.ChatMessage`, with the agent's thoughts and files.
    """


class AppUnavailableError(BadRequestError):
    """``app_unavailable``: the app's model configuration is missing or broken."""


class NotChatAppError(BadRequestError):
    """``not_chat_app``: the API key belongs to an app whose mode does not fit this route."""


class CompletionRequestError(BadRequestError):
    """``completion_request_error``: the model provider failed (timeouts, provider rate limits...)."""


class ProviderNotInitializeError(BadRequestError):
    """``provider_not_initialize``: the workspace has no valid credentials for the model."""


class ProviderQuotaExceededError(BadRequestError):
    """``provider_quota_exceeded``: the hosted model quota is exhausted."""


class ModelNotSupportedError(BadRequestError):
    """``model_currently_not_support``: the configured model is not available."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the API key is missing or invalid."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the app is disabled or gone, or the resource is not yours."""


class NotFoundError(APIStatusError):
    """HTTP 404: the conversation, message, file or annotation does not exist (for this user)."""


class PayloadTooLargeError(APIStatusError):
    """HTTP 413: the uploaded file or audio is over the server's size limit."""


class UnsupportedMediaTypeError(APIStatusError):
    """HTTP 415: a file or audio type the server does not accept."""


class RateLimitError(APIStatusError):
    """HTTP 429, a ``too_many_requests``/``rate_limit_error`` code, or the per-app concurrency limit."""


class InternalServerError(APIStatusError):
    """HTTP 5xx."""


_BY_CODE: dict[str, type[APIStatusError]] = {
    "invalid_param": InvalidParamError,
    "app_unavailable": AppUnavailableError,
    "not_chat_app": NotChatAppError,
    "completion_request_error": CompletionRequestError,
    "provider_not_initialize": ProviderNotInitializeError,
    "provider_quota_exceeded": ProviderQuotaExceededError,
    "model_currently_not_support": ModelNotSupportedError,
    "unauthorized": AuthenticationError,
    "forbidden": PermissionDeniedError,
    "file_access_denied": PermissionDeniedError,
    "not_found": NotFoundError,
    "file_not_found": NotFoundError,
    "file_too_large": PayloadTooLargeError,
    "audio_too_large": PayloadTooLargeError,
    "unsupported_file_type": UnsupportedMediaTypeError,
    "unsupported_audio_type": UnsupportedMediaTypeError,
    "unsupported_media_type": UnsupportedMediaTypeError,
    "too_many_requests": RateLimitError,
    "rate_limit_error": RateLimitError,
}

_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    429: RateLimitError,
}

# Dify answers its per-app concurrency limit with 400 invalid_param and this message (the
# intended 429 handler is shadowed by the ValueError one), so the message is the only tell.
_CONCURRENCY_LIMIT_PREFIX = "too many requests"
# Likewise the agent-app refusal of blocking mode: a ValueError, so invalid_param plus this text.
_NO_BLOCKING_MODE = "does not support blocking mode"
_NO_BLOCKING_MODE_HINT = (
    "Agent apps answer only in streaming mode: use stream_message(...), "
    "and .collect() on the stream for the whole answer."
)


def error_class(status_code: int, code: str | None, message: str) -> type[APIStatusError]:
    """Pick the exception class for a Dify error: the body's code first, then the status."""
    if code == "invalid_param" and message.lower().startswith(_CONCURRENCY_LIMIT_PREFIX):
        return RateLimitError
    if code == "invalid_param" and _NO_BLOCKING_MODE in message.lower():
        return BlockingModeNotSupportedError
    if code is not None and code in _BY_CODE:
        return _BY_CODE[code]
    if status_code >= 500:
        return InternalServerError
    return _BY_STATUS.get(status_code, APIStatusError)


def make_status_error(
    status_code: int,
    body: Any,
    *,
    response: httpx.Response | None = None,
    in_stream: bool = False,
    default_message: str = "",
) -> APIStatusError:
    """Build the exception for an error response body (already decoded) or an ``error`` event.

    ``body`` is Dify's ``{"code", "message", "status"}`` object when the server followed the
    contract, or anything else (text of an HTML page, ``None``) when it did not.
    """
    code: str | None = None
    message = default_message
    if isinstance(body, dict):
        raw_code = body.get("code")
        code = str(raw_code) if raw_code is not None else None
        raw_message = body.get("message")
        if isinstance(raw_message, str) and raw_message:
            message = raw_message
        elif raw_message is not None:
            message = str(raw_message)
        elif "error" in body and isinstance(body["error"], str):
            message = body["error"]
    elif isinstance(body, str) and body.strip() and not body.lstrip().startswith("<"):
        message = body.strip()[:500]
    if not message:
        message = f"HTTP {status_code}"
    cls = error_class(status_code, code, message)
    if cls is BlockingModeNotSupportedError:
        message = f"{message.rstrip('.')}. {_NO_BLOCKING_MODE_HINT}"
    return cls(message, status_code=status_code, code=code, body=body, response=response, in_stream=in_stream)
