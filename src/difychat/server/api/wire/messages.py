"""Messages: the history (``GET /messages``) and suggested questions."""

from __future__ import annotations

from typing import Any

from difychat.server.api.wire.common import FileUrl, keyset_page, seconds
from difychat.server.api.wire.files import message_file
from difychat.server.domain.paging import Page
from difychat.server.domain.records import HistoryMessage


def message(item: HistoryMessage, file_url: FileUrl) -> dict[str, Any]:
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
        "retriever_resources": row.retriever_resources or [],
        "created_at": seconds(row.created_at),
        "agent_thoughts": [],
        "message_files": [message_file(f, file_url) for f in item.files],
        "status": "error" if row.status == "error" else "normal",
        "error": row.error,
    }


def history(page: Page[HistoryMessage], file_url: FileUrl) -> dict[str, Any]:
    return keyset_page(page, lambda item: message(item, file_url))


def suggested(questions: list[str]) -> dict[str, Any]:
    return {"result": "success", "data": questions}
