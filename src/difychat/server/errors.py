"""Errors that carry the wire contract's ``code``, HTTP status and message: every one the server
raises is declared here.

Every layer raises these; one handler in the API layer renders them as
``{"code": ..., "message": ..., "status": ...}``.

    AppError
    ├── InvalidParam                     400 invalid_param
    │   └── TooManyRequests              429 too_many_requests
    │       └── RateLimited              429 too_many_requests, with Retry-After
    ├── BadRequest                       400 bad_request
    │   └── BadRequestKeyError           400 bad_request_key_error
    ├── AppUnavailable                   400 app_unavailable
    ├── NotChatApp                       400 not_chat_app
    ├── NoFileUploaded                   400 no_file_uploaded
    ├── TooManyFiles                     400 too_many_files
    ├── FilenameNotExists                400 filename_not_exists_error
    ├── ProviderNotSupportSpeechToText   400 provider_not_support_speech_to_text
    ├── Unauthorized                     401 unauthorized
    ├── Forbidden                        403 forbidden
    ├── FileAccessDenied                 403 file_access_denied
    ├── NotFound                         404 not_found
    │   └── EndUserNotFound              404 end_user_not_found
    ├── FileNotFound                     404 file_not_found
    ├── MethodNotAllowed                 405 method_not_allowed
    ├── PayloadTooLarge                  413 request_entity_too_large
    ├── FileTooLarge                     413 file_too_large
    ├── AudioTooLarge                    413 audio_too_large
    ├── UnsupportedMediaType             415 unsupported_media_type
    ├── UnsupportedFileType              415 unsupported_file_type
    ├── UnsupportedAudioType             415 unsupported_audio_type
    ├── ProviderError                    400 completion_request_error (and kin), see providers
    ├── InvalidAction                    400 invalid_action
    ├── InvalidMetadata                  400 invalid_metadata
    ├── ArchivedDocumentImmutable        403 archived_document_immutable
    ├── DatasetNameDuplicate             409 dataset_name_duplicate
    ├── DatasetNotInitialized            400 dataset_not_initialized
    └── InternalServerError              500 internal_server_error
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


class RateLimited(TooManyRequests):
    """An API key's own limit was reached; the client may retry after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BadRequest(AppError):
    code = "bad_request"
    status = 400
    default_message = "The browser (or proxy) sent a request that this server could not understand."


class BadRequestKeyError(BadRequest):
    """A required multipart part is missing (``/audio-to-text`` without ``file``)."""

    code = "bad_request_key_error"


class AppUnavailable(AppError):
    code = "app_unavailable"
    status = 400
    default_message = "App unavailable, please check your app configurations."


class NotChatApp(AppError):
    code = "not_chat_app"
    status = 400
    default_message = "Please check if your app mode matches the right API route."


class NoFileUploaded(AppError):
    code = "no_file_uploaded"
    status = 400
    default_message = "Please upload your file."


class TooManyFiles(AppError):
    code = "too_many_files"
    status = 400
    default_message = "Only one file is allowed."


class FilenameNotExists(AppError):
    code = "filename_not_exists_error"
    status = 400
    default_message = "The specified filename does not exist."


class ProviderNotSupportSpeechToText(AppError):
    code = "provider_not_support_speech_to_text"
    status = 400
    default_message = "Provider not support speech to text."


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


class FileAccessDenied(AppError):
    code = "file_access_denied"
    status = 403
    default_message = "File access denied: not owned by requesting app"


class NotFound(AppError):
    code = "not_found"
    status = 404
    default_message = (
        "The requested URL was not found on the server. "
        "If you entered the URL manually please check your spelling and try again."
    )


class EndUserNotFound(NotFound):
    code = "end_user_not_found"
    default_message = "End user not found."


class FileNotFound(AppError):
    code = "file_not_found"
    status = 404
    default_message = "File not found in message context"


class MethodNotAllowed(AppError):
    code = "method_not_allowed"
    status = 405
    default_message = "The method is not allowed for the requested URL."


class PayloadTooLarge(AppError):
    code = "request_entity_too_large"
    status = 413
    default_message = "The data value transmitted exceeds the capacity limit."


class FileTooLarge(AppError):
    code = "file_too_large"
    status = 413
    default_message = "File size exceeded."


class AudioTooLarge(AppError):
    code = "audio_too_large"
    status = 413
    default_message = "Audio size larger than 30 mb"


class UnsupportedMediaType(AppError):
    code = "unsupported_media_type"
    status = 415
    default_message = (
        "Did not attempt to load JSON data because the request Content-Type was not 'application/json'."
    )


class UnsupportedFileType(AppError):
    code = "unsupported_file_type"
    status = 415
    default_message = "File type not allowed."


class UnsupportedAudioType(AppError):
    code = "unsupported_audio_type"
    status = 415
    default_message = "Audio type not allowed."


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


class InvalidAction(AppError):
    code = "invalid_action"
    status = 400
    default_message = "Invalid action."


class InvalidMetadata(AppError):
    code = "invalid_metadata"
    status = 400
    default_message = "Invalid metadata value."


class ArchivedDocumentImmutable(AppError):
    code = "archived_document_immutable"
    status = 403
    default_message = "The archived document is not editable."


class DatasetNameDuplicate(AppError):
    code = "dataset_name_duplicate"
    status = 409
    default_message = "The dataset name already exists. Please modify your dataset name."


class DatasetNotInitialized(AppError):
    code = "dataset_not_initialized"
    status = 400
    default_message = "The dataset is still being initialized or indexing. Please wait a moment."


# Messages of the contract, kept in one place so services and tests agree.
CONVERSATION_NOT_EXISTS = "Conversation Not Exists."
LAST_CONVERSATION_NOT_EXISTS = "Last Conversation Not Exists."
FIRST_MESSAGE_NOT_EXISTS = "First Message Not Exists."
MESSAGE_NOT_EXISTS = "Message Not Exists."
VARIABLE_NOT_EXISTS = "Conversation Variable Not Exists."
ANNOTATION_NOT_FOUND = "Annotation not found"
JOB_NOT_EXISTS = "The job does not exist."
SUGGESTIONS_DISABLED = "Suggested Questions Is Disabled."
UPLOAD_RECORD_NOT_FOUND = "Upload file record not found"
SIGNED_FILE_NOT_FOUND = "File not found or signature is invalid"
# The Knowledge API's.
DATASET_NOT_FOUND = "Dataset not found."
DATASET_API_DISABLED = "Dataset api access is not enabled."
DOCUMENT_NOT_FOUND = "Document not found."
DOCUMENT_NOT_EXISTS = "Document Not Exists."
DOCUMENTS_NOT_FOUND = "Documents not found."
DOCUMENT_NOT_COMPLETED = "Document is not completed."
DOCUMENT_DISABLED = "Document is disabled."
SEGMENT_NOT_FOUND = "Segment not found."
