"""Errors that carry the wire contract's ``code``, HTTP status and message.

Every layer raises these; one handler in the API layer renders them as
``{"code": ..., "message": ..., "status": ...}``.

    AppError
    ├── InvalidParam            400 invalid_param
    │   └── TooManyRequests     429 too_many_requests
    ├── BadRequest              400 bad_request
    ├── AppUnavailable          400 app_unavailable
    ├── NotChatApp              400 not_chat_app
    ├── Unauthorized            401 unauthorized
    ├── Forbidden               403 forbidden
    ├── NotFound                404 not_found
    ├── MethodNotAllowed        405 method_not_allowed
    ├── PayloadTooLarge         413 request_entity_too_large
    ├── UnsupportedMediaType    415 unsupported_media_type
    ├── ProviderError           400 completion_request_error (and kin), see providers
    └── InternalServerError     500 internal_server_error
"""

from __future__ import annotations


class AppError(Exception):
    code: str = "internal_server_error"
    status: int = 500
    default_message: str = "Internal Server Error, please contact support."

    def __init__(self, message: str | None = None, *, code: str | None = None, status: int | None = None):
        self.message = self.default_message if message is None else message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status}, message={self.message!r})"


class InvalidParam(AppError):
    code = "invalid_param"
    status = 400
    default_message = "Invalid parameter."


class TooManyRequests(InvalidParam):
    code = "too_many_requests"
    status = 429
    default_message = "Too many requests. Please try again later."


class BadRequest(AppError):
    code = "bad_request"
    status = 400
    default_message = "The browser (or proxy) sent a request that this server could not understand."


class AppUnavailable(AppError):
    code = "app_unavailable"
    status = 400
    default_message = "App unavailable, please check your app configurations."


class NotChatApp(AppError):
    code = "not_chat_app"
    status = 400
    default_message = "Please check if your app mode matches the right API route."


class Unauthorized(AppError):
    code = "unauthorized"
    status = 401
    default_message = "Access token is invalid"


class Forbidden(AppError):
    code = "forbidden"
    status = 403
    default_message = (
        "You don't have the permission to access the requested resource. "
        "It is either read-protected or not readable by the server."
    )


class NotFound(AppError):
    code = "not_found"
    status = 404
    default_message = (
        "The requested URL was not found on the server. "
        "If you entered the URL manually please check your spelling and try again."
    )


class MethodNotAllowed(AppError):
    code = "method_not_allowed"
    status = 405
    default_message = "The method is not allowed for the requested URL."


class PayloadTooLarge(AppError):
    code = "request_entity_too_large"
    status = 413
    default_message = "The data value transmitted exceeds the capacity limit."


class UnsupportedMediaType(AppError):
    code = "unsupported_media_type"
    status = 415
    default_message = (
        "Did not attempt to load JSON data because the request Content-Type was not 'application/json'."
    )


class InternalServerError(AppError):
    code = "internal_server_error"
    status = 500
    default_message = (
        "The server encountered an internal error and was unable to complete your request. "
        "Either the server is overloaded or there is an error in the application."
    )


class ProviderError(AppError):
    """A failure of the model provider, before or during generation."""

    code = "completion_request_error"
    status = 400
    default_message = "The model provider failed."


class ProviderNotInitialized(ProviderError):
    code = "provider_not_initialize"
    default_message = "Provider credentials are not configured."


class ModelNotSupported(ProviderError):
    code = "model_currently_not_support"
    default_message = "The model is not available."


# Messages of the contract, kept in one place so services and tests agree.
CONVERSATION_NOT_EXISTS = "Conversation Not Exists."
LAST_CONVERSATION_NOT_EXISTS = "Last Conversation Not Exists."
FIRST_MESSAGE_NOT_EXISTS = "First Message Not Exists."
MESSAGE_NOT_EXISTS = "Message Not Exists."
