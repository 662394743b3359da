"""The stored records the API shows, as the store returns them: plain typed values, ids as strings,
timestamps as naive UTC datetimes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from difychat.server.domain.thoughts import AgentThought


@dataclass(frozen=True, slots=True)
class EndUser:
    id: str
    app_id: str
    session_id: str
    is_anonymous: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    app_id: str
    # The config version the conversation is pinned to.
    app_config_id: str
    end_user_id: str
    mode: str
    name: str
    inputs: dict[str, Any]
    introduction: str
    status: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    app_id: str
    conversation_id: str
    end_user_id: str
    task_id: str
    parent_message_id: str | None
    query: str
    inputs: dict[str, Any]
    answer: str
    # "running", "normal", "stopped" or "error".
    status: str
    error: str | None
    prompt_tokens: int
    completion_tokens: int
    usage: dict[str, Any] | None
    retriever_resources: list[Any] | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Feedback:
    id: str
    app_id: str
    conversation_id: str
    message_id: str
    rating: str
    content: str | None
    from_source: str
    from_end_user_id: str | None
    from_account_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class UploadFile:
    id: str
    app_id: str
    end_user_id: str
    name: str
    size: int
    extension: str
    mime_type: str
    storage_key: str
    hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MessageFile:
    """A file attached to a message: an upload (``upload_file_id``) or a link (``url``)."""

    id: str
    message_id: str
    type: str
    transfer_method: str
    url: str | None
    upload_file_id: str | None
    filename: str
    mime_type: str
    size: int
    belongs_to: str
    position: int
    created_at: datetime


class ShownMessage(NamedTuple):
    """What the history shows of a stored message (a tuple: pages build twenty at a time)."""

    id: str
    conversation_id: str
    parent_message_id: str | None
    query: str
    inputs: dict[str, Any]
    answer: str
    # "running", "normal", "stopped" or "error".
    status: str
    error: str | None
    usage: dict[str, Any] | None
    retriever_resources: list[Any] | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class HistoryMessage:
    """A message as the history shows it to its end user: with their own rating and its files."""

    message: ShownMessage
    rating: str | None = None
    files: list[MessageFile] = field(default_factory=list)
    # An agent answer's rounds, by position.
    thoughts: list[AgentThought] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ConversationVariable:
    id: str
    conversation_id: str
    name: str
    value_type: str
    # Decoded JSON, of the declared type.
    value: Any
    description: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Annotation:
    id: str
    question: str
    answer: str
    hit_count: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AnnotationJob:
    id: str
    app_id: str
    action: str
    # "waiting", "processing", "completed" or "error".
    status: str
    error_msg: str
    score_threshold: float
    embedding_provider_name: str
    embedding_model_name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ReplySettings:
    """An app's annotation reply settings, as switched through the API."""

    id: str
    enabled: bool
    score_threshold: float
    embedding_provider_name: str
    embedding_model_name: str
