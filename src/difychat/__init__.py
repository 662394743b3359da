"""difychat: a typed Python client (and, with the ``server`` extra, a server) for Dify's Chat App API.

Example::

    from difychat import DifyChat

    client = DifyChat(api_key="app-...", base_url="http://localhost:5001/v1", user="alice")
    with client.stream_message("Hello!") as stream:
        for text in stream.iter_text():
            print(text, end="", flush=True)
"""

import importlib as _importlib
import typing as _typing

from difychat._version import __version__

# The names below load on first use, so that importing a sub-package (the server, the command
# line) does not load the client and its HTTP stack. Type checkers see the plain imports.
if _typing.TYPE_CHECKING:
    from difychat._async_client import AsyncDifyChat
    from difychat._base import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, NOT_GIVEN, NotGiven
    from difychat._byte_stream import AsyncByteStream, ByteStream
    from difychat._client import DifyChat
    from difychat._errors import (
        APIConnectionError,
        APIStatusError,
        APITimeoutError,
        AppUnavailableError,
        AuthenticationError,
        BadRequestError,
        BlockingModeNotSupportedError,
        CompletionRequestError,
        DifyConfigError,
        DifyError,
        IncompleteStreamError,
        InternalServerError,
        InvalidParamError,
        ModelNotSupportedError,
        NotChatAppError,
        NotFoundError,
        PayloadTooLargeError,
        PermissionDeniedError,
        ProviderNotInitializeError,
        ProviderQuotaExceededError,
        RateLimitError,
        ResponseDecodeError,
        UnsupportedMediaTypeError,
    )
    from difychat._knowledge_client import AsyncDifyKnowledge, DifyKnowledge
    from difychat._retry import RetryPolicy
    from difychat._sse import ServerSentEvent, SSEDecoder
    from difychat._streaming import AsyncChatStream, ChatStream
    from difychat.types import ChatFile, ChatMessage

_LAZY: dict[str, str] = {
    "AsyncDifyChat": "difychat._async_client",
    "DEFAULT_BASE_URL": "difychat._base",
    "DEFAULT_MAX_RETRIES": "difychat._base",
    "DEFAULT_TIMEOUT": "difychat._base",
    "NOT_GIVEN": "difychat._base",
    "NotGiven": "difychat._base",
    "AsyncByteStream": "difychat._byte_stream",
    "ByteStream": "difychat._byte_stream",
    "DifyChat": "difychat._client",
    "APIConnectionError": "difychat._errors",
    "APIStatusError": "difychat._errors",
    "APITimeoutError": "difychat._errors",
    "AppUnavailableError": "difychat._errors",
    "AuthenticationError": "difychat._errors",
    "BadRequestError": "difychat._errors",
    "BlockingModeNotSupportedError": "difychat._errors",
    "CompletionRequestError": "difychat._errors",
    "DifyConfigError": "difychat._errors",
    "DifyError": "difychat._errors",
    "IncompleteStreamError": "difychat._errors",
    "InternalServerError": "difychat._errors",
    "InvalidParamError": "difychat._errors",
    "ModelNotSupportedError": "difychat._errors",
    "NotChatAppError": "difychat._errors",
    "NotFoundError": "difychat._errors",
    "PayloadTooLargeError": "difychat._errors",
    "PermissionDeniedError": "difychat._errors",
    "ProviderNotInitializeError": "difychat._errors",
    "ProviderQuotaExceededError": "difychat._errors",
    "RateLimitError": "difychat._errors",
    "ResponseDecodeError": "difychat._errors",
    "UnsupportedMediaTypeError": "difychat._errors",
    "AsyncDifyKnowledge": "difychat._knowledge_client",
    "DifyKnowledge": "difychat._knowledge_client",
    "RetryPolicy": "difychat._retry",
    "ServerSentEvent": "difychat._sse",
    "SSEDecoder": "difychat._sse",
    "AsyncChatStream": "difychat._streaming",
    "ChatStream": "difychat._streaming",
    "ChatFile": "difychat.types",
    "ChatMessage": "difychat.types",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AppUnavailableError",
    "AsyncByteStream",
    "AsyncChatStream",
    "AsyncDifyChat",
    "AsyncDifyKnowledge",
    "AuthenticationError",
    "BadRequestError",
    "BlockingModeNotSupportedError",
    "ByteStream",
    "ChatFile",
    "ChatMessage",
    "ChatStream",
    "CompletionRequestError",
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "DifyChat",
    "DifyKnowledge",
    "DifyConfigError",
    "DifyError",
    "IncompleteStreamError",
    "InternalServerError",
    "InvalidParamError",
    "ModelNotSupportedError",
    "NOT_GIVEN",
    "NotChatAppError",
    "NotFoundError",
    "NotGiven",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProviderNotInitializeError",
    "ProviderQuotaExceededError",
    "RateLimitError",
    "ResponseDecodeError",
    "RetryPolicy",
    "SSEDecoder",
    "ServerSentEvent",
    "UnsupportedMediaTypeError",
    "__version__",
]
