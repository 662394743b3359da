"""What a chat turn that continues a conversation reads before it starts, in one go (``Reader``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from difychat.server.domain.records import Conversation
from difychat.server.store.conversations import OWNED, conversation_of
from difychat.server.store.schema import messages

# Built once: a statement made per call costs more than the lookup itself.
_MEMORY = (
    sa.select(messages.c.query, messages.c.answer)
    .where(
        messages.c.conversation_id == sa.bindparam("conversation_id"),
        messages.c.status.in_(("normal", "stopped")),
    )
    .order_by(messages.c.created_at.desc(), messages.c.id.desc())
    .limit(sa.bindparam("limit"))
)


def owned(conn: Connection, conversation_id: str, end_user_id: str) -> Conversation | None:
    """The conversation if ``end_user_id`` owns it (end users belong to one app)."""
    row = conn.execute(OWNED, {"conversation_id": conversation_id, "end_user_id": end_user_id}).first()
    return None if row is None else conversation_of(row)


def memory(conn: Connection, conversation_id: str, limit: int) -> list[tuple[str, str]]:
    """The latest ``limit`` finished turns, newest first, as (query, answer)."""
    if limit <= 0:
        return []
    rows = conn.execute(_MEMORY, {"conversation_id": conversation_id, "limit": limit})
    return [(query, answer) for query, answer in rows]


def continued(
    conn: Connection, conversation_id: str, end_user_id: str, memory_limit: int
) -> tuple[Conversation | None, list[tuple[str, str]]]:
    """The caller's conversation and, if it is theirs, its latest ``memory_limit`` turns."""
    found = owned(conn, conversation_id, end_user_id)
    return found, memory(conn, conversation_id, memory_limit) if found is not None else []
