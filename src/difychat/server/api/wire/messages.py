"""Messages: the history (``GET /messages``) and suggested questions."""

from __future__ import annotations

from typing import Any

from difychat.server.api.wire.common import FileUrl, ToolUrl, keyset_page, seconds
from difychat.server.api.wire.files import message_file
from difychat.server.domain.paging import Page
from difychat.server.domain.records import HistoryMessage
from difychat.server.domain.thoughts import AgentThought

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


def citation(stored: dict[str, Any]) -> dict[str, Any]:
    """A citation as the message keeps it (its stable id included), in the history's reduced form."""
    return {key: stored.get(key) for key in _CITATION_KEYS}


def agent_thought(row: AgentThought) -> dict[str, Any]:
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
