"""Messages: the history (``GET /messages``) and suggested questions."""

from __future__ import annotations

from typing import Any, Literal

from typing_extensions import TypedDict

from difychat.server.api.wire.common import FileUrl, ToolUrl, keyset_page, seconds
from difychat.server.api.wire.files import MessageFile, message_file
from difychat.server.domain.paging import Page
from difychat.server.domain.records import HistoryMessage
from difychat.server.domain.thoughts import AgentThought as AgentThoughtRecord

# What a history item shows of a stored citation, in order (chat contract §6.8).
_CITATION_KEYS = (
    "id",
    "message_id",
    "position",
    "dataset_id",
    "dataset_name",
    "document_id",
    "document_name",
    "data_source_type",
    "segment_id",
    "score",
    "hit_count",
    "word_count",
    "segment_position",
    "index_node_hash",
    "content",
    "summary",
    "created_at",
)


class Citation(TypedDict):
    """A stored citation in the history's reduced form; a key the stored one lacks is null."""

    id: str | None
    message_id: str | None
    position: int | None
    dataset_id: str | None
    dataset_name: str | None
    document_id: str | None
    document_name: str | None
    data_source_type: str | None
    segment_id: str | None
    score: float | None
    hit_count: int | None
    word_count: int | None
    segment_position: int | None
    index_node_hash: str | None
    content: str | None
    summary: str | None
    created_at: int | None


class AgentThought(TypedDict):
    id: str
    chain_id: None
    message_id: str
    position: int
    thought: str
    tool: str
    tool_labels: dict[str, Any]
    tool_input: str
    created_at: int
    observation: str
    files: list[str]


class Rating(TypedDict):
    rating: str


class Message(TypedDict):
    """A history item."""

    id: str
    conversation_id: str
    parent_message_id: str | None
    inputs: dict[str, Any]
    query: str
    answer: str
    feedback: Rating | None
    retriever_resources: list[Citation]
    created_at: int
    agent_thoughts: list[AgentThought]
    message_files: list[MessageFile]
    status: Literal["normal", "error"]
    error: str | None


class MessagePage(TypedDict):
    limit: int
    has_more: bool
    data: list[Message]


class SuggestedQuestions(TypedDict):
    result: Literal["success"]
    data: list[str]


def citation(stored: dict[str, Any]) -> dict[str, Any]:
    """A citation as the message keeps it (its stable id included), in the history's reduced form."""
    return {key: stored.get(key) for key in _CITATION_KEYS}


def agent_thought(row: AgentThoughtRecord) -> dict[str, Any]:
    """One round of an agent answer, as ``agent_thoughts`` lists it (agent contract §6.1)."""
    return {
        "id": row.id,
        "chain_id": None,
        "message_id": row.message_id,
        "position": row.position,
        "thought": row.thought,
        "tool": row.tool,
        "tool_labels": row.tool_labels,
        "tool_input": row.tool_input,
        "created_at": seconds(row.created_at),
        "observation": row.observation,
        "files": list(row.files),
    }


def message(item: HistoryMessage, file_url: FileUrl, tool_url: ToolUrl | None = None) -> dict[str, Any]:
    """A history item. ``running`` and ``stopped`` show as ``normal``, as in Dify."""
    row = item.message
    return {
        "id": row.id,
        "conversation_id": row.conversation_id,
        "parent_message_id": row.parent_message_id,
        "inputs": row.inputs,
        "query": row.query,
        "answer": row.answer,
        "feedback": {"rating": item.rating} if item.rating else None,
        "retriever_resources": [citation(c) for c in row.retriever_resources or []],
        "created_at": seconds(row.created_at),
        "agent_thoughts": [agent_thought(t) for t in item.thoughts],
        "message_files": [message_file(f, file_url, tool_url) for f in item.files],
        "status": "error" if row.status == "error" else "normal",
        "error": row.error,
    }


def history(page: Page[HistoryMessage], file_url: FileUrl, tool_url: ToolUrl | None = None) -> dict[str, Any]:
    return keyset_page(page, lambda item: message(item, file_url, tool_url))


def suggested(questions: list[str]) -> dict[str, Any]:
    return {"result": "success", "data": questions}
