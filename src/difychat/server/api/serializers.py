"""Rows to wire objects, keys in the contract's order."""

from __future__ import annotations

import calendar
from datetime import datetime
from typing import Any

from difychat.server.store.common import Record


def seconds(value: datetime) -> int:
    """Naive UTC to integer Unix seconds."""
    return calendar.timegm(value.utctimetuple())


def conversation(row: Record) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "inputs": row.inputs,
        "status": row.status,
        "introduction": row.introduction,
        "created_at": seconds(row.created_at),
        "updated_at": seconds(row.updated_at),
    }


def message(row: Record, rating: str | None, files: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "conversation_id": str(row.conversation_id),
        "parent_message_id": str(row.parent_message_id) if row.parent_message_id else None,
        "inputs": row.inputs,
        "query": row.query,
        "answer": row.answer,
        "feedback": {"rating": rating} if rating else None,
        "retriever_resources": row.retriever_resources or [],
        "created_at": seconds(row.created_at),
        "agent_thoughts": [],
        "message_files": files or [],
        "status": "error" if row.status == "error" else "normal",
        "error": row.error,
    }


def feedback(row: Record) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "app_id": str(row.app_id),
        "conversation_id": str(row.conversation_id),
        "message_id": str(row.message_id),
        "rating": row.rating,
        "content": row.content,
        "from_source": row.from_source,
        "from_end_user_id": str(row.from_end_user_id) if row.from_end_user_id else None,
        "from_account_id": str(row.from_account_id) if row.from_account_id else None,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def annotation(row: Record) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "question": row.question,
        "answer": row.answer,
        "hit_count": row.hit_count,
        "created_at": seconds(row.created_at),
    }
