"""Rows to wire objects, keys in the contract's order (being replaced by ``api/wire/``)."""

from __future__ import annotations

from typing import Any

from difychat.server.api.wire.common import seconds
from difychat.server.store.common import Record

__all__ = ["annotation", "seconds"]


def annotation(row: Record) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "question": row.question,
        "answer": row.answer,
        "hit_count": row.hit_count,
        "created_at": seconds(row.created_at),
    }
