"""Models for ``POST /chat-messages``: the blocking result, usage, citations and file inputs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from difychat.types._base import DifyModel, Price, Timestamp
from difychat.types.agent import AgentThought, MessageFile, ThoughtsAndFiles

__all__ = [
    "AnnotationReply",
    "ChatFile",
    "ChatMessage",
    "ChatMetadata",
    "RetrieverResource",
    "Usage",
]

FileType = Literal["image", "document", "audio", "video", "custom"]


class Usage(DifyModel):
    """Token counts and prices of one answer. Prices are ``Decimal``; latencies are seconds."""

    prompt_tokens: int = 0
    prompt_unit_price: Price | None = None
    prompt_price_unit: Price | None = None
    prompt_price: Price | None = None
    completion_tokens: int = 0
    completion_unit_price: Price | None = None
    completion_price_unit: Price | None = None
    completion_price: Price | None = None
    total_tokens: int = 0
    total_price: Price | None = None
    currency: str | None = None
    latency: float | None = None
    time_to_first_token: float | None = None
    time_to_generate: float | None = None


class RetrieverResource(DifyModel):
    """A knowledge-base citation attached to an answer."""

    position: int | None = None
    dataset_id: str | None = None
    dataset_name: str | None = None
    document_id: str | None = None
    document_name: str | None = None
    data_source_type: str | None = None
    segment_id: str | None = None
    retriever_from: str | None = None
    score: float | None = None
    hit_count: int | None = None
    word_count: int | None = None
    segment_position: int | None = None
    index_node_hash: str | None = None
    content: str | None = None
    page: int | None = None
    doc_metadata: dict[str, Any] | None = None
    title: str | None = None
    summary: str | None = None


class AnnotationReply(DifyModel):
    """Set when the answer came from an annotation rather than the model."""

    id: str | None = None
    account: dict[str, Any] | None = None


class ChatMetadata(DifyModel):
    """``metadata`` of a blocking result or of a ``message_end`` event."""

    annotation_reply: AnnotationReply | None = None
    retriever_resources: list[RetrieverResource] = Field(default_factory=list)
    usage: Usage | None = None


class ChatMessage(ThoughtsAndFiles, DifyModel):
    """The result of a blocking chat message (also what ``ChatStream.collect()`` returns).

    ``id`` and ``message_id`` are the same message id; ``task_id`` is only useful while the
    answer is being generated.

    ``agent_thoughts`` and ``message_files`` are filled by ``collect()`` from an agent's stream:
    the last state of every round, by ``position``, and the files its tools produced. A
    blocking answer carries neither (the wire shape has no room for them); ``messages()``
    returns them for any stored answer.
    """

    event: str = "message"
    task_id: str | None = None
    id: str | None = None
    message_id: str | None = None
    conversation_id: str | None = None
    mode: str | None = None
    answer: str = ""
    metadata: ChatMetadata = Field(default_factory=ChatMetadata)
    created_at: Timestamp | None = None
    agent_thoughts: list[AgentThought] = Field(default_factory=list)
    message_files: list[MessageFile] = Field(default_factory=list)

    @model_validator(mode="after")
    def _same_ids(self) -> ChatMessage:
        # Java clients read ``id``, the docs lead with ``message_id``: make both always usable.
        if self.id is None:
            self.id = self.message_id
        if self.message_id is None:
            self.message_id = self.id
        return self

    @property
    def usage(self) -> Usage | None:
        """Shortcut for ``metadata.usage``."""
        return self.metadata.usage


class ChatFile(DifyModel):
    """A file attached to a chat message (the items of the request's ``files`` list).

    Example::

        ChatFile.remote("https://example.com/cat.png")
        ChatFile.local(uploaded.id, type="document")
    """

    type: FileType | str = "image"
    transfer_method: Literal["remote_url", "local_file"] | str = "remote_url"
    url: str | None = None
    upload_file_id: str | None = None

    @classmethod
    def remote(cls, url: str, *, type: FileType = "image") -> ChatFile:
        """A file the server fetches from ``url``."""
        return cls(type=type, transfer_method="remote_url", url=url)

    @classmethod
    def local(cls, upload_file_id: str, *, type: FileType = "image") -> ChatFile:
        """A file uploaded earlier with ``upload_file`` (pass its ``id``)."""
        return cls(type=type, transfer_method="local_file", upload_file_id=upload_file_id)

    def to_wire(self) -> dict[str, Any]:
        """The JSON object sent to the server (``None`` fields left out)."""
        return self.model_dump(exclude_none=True)
