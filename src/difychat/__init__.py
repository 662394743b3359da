"""difychat: a typed Python client (and, with the ``server`` extra, a server) for Dify's Chat App API.

Example::

    from difychat import DifyChat

    client = DifyChat(api_key="app-...", base_url="http://localhost:5001/v1", user="alice")
    with client.stream_message("Hello!") as stream:
        for text in stream.iter_text():
            print(text, end="", flush=True)
"""

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
from difychat._version import __version__
from difychat.types import ChatFile, ChatMessage

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
