"""A chat turn's answer on the wire: the blocking body and ``message_end``'s metadata.

The streamed frames themselves are built in ``api/sse.py``, whose per-stream prefix
is prebuilt once so that a text delta costs one string encode.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict

from difychat.server.api.wire.common import seconds
from difychat.server.domain.app_modes import COMPLETION
from difychat.server.domain.events import MessageEnded
from difychat.server.generation.registry import Generation


class Usage(TypedDict):
    """Tokens, prices (decimal strings) and timings (seconds) of one answer."""

    prompt_tokens: int
    prompt_unit_price: str
    prompt_price_unit: str
    prompt_price: str
    completion_tokens: int
    completion_unit_price: str
    completion_price_unit: str
    completion_price: str
    total_tokens: int
    total_price: str
    currency: str
    latency: float
    time_to_first_token: float | None
    time_to_generate: float | None


class AnswerMetadata(TypedDict):
    annotation_reply: dict[str, Any] | None
    retriever_resources: list[dict[str, Any]]
    usage: Usage


class ChatAnswer(TypedDict):
    """A chat (or agent) app's blocking answer."""

    event: str
    task_id: str
    id: str
    message_id: str
    conversation_id: str
    mode: str
    answer: str
    metadata: AnswerMetadata
    created_at: int


class CompletionAnswer(TypedDict):
    """A completion app's blocking answer: no conversation."""

    event: str
    task_id: str
    id: str
    message_id: str
    mode: str
    answer: str
    metadata: AnswerMetadata
    created_at: int


def metadata(ended: MessageEnded) -> dict[str, Any]:
    return {
        "annotation_reply": ended.annotation_reply,
        "retriever_resources": list(ended.retriever_resources),
        "usage": ended.usage.to_wire(),
    }


def blocking_answer(generation: Generation, mode: str, ended: MessageEnded) -> dict[str, Any]:
    """The blocking body; a completion app's has no ``conversation_id`` (Dify's completion body)."""
    conversation = {} if mode == COMPLETION else {"conversation_id": generation.conversation_id}
    return {
        "event": "message",
        "task_id": generation.task_id,
        "id": generation.message_id,
        "message_id": generation.message_id,
        **conversation,
        "mode": mode,
        "answer": ended.answer,
        "metadata": metadata(ended),
        "created_at": seconds(generation.created_at),
    }
