"""Conversations: create, look up by owner, keyset pages, rename, delete."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.store.common import Record, utcnow
from difychat.server.store.schema import conversations, message_feedbacks, messages

SORT_COLUMNS = {"created_at": conversations.c.created_at, "updated_at": conversations.c.updated_at}


async def owned(conn: AsyncConnection, conversation_id: str, end_user_id: str) -> Record | None:
    """The conversation if ``end_user_id`` owns it (end users belong to one app)."""
    return (
        await conn.execute(
            sa.select(conversations).where(
                conversations.c.id == conversation_id, conversations.c.end_user_id == end_user_id
            )
        )
    ).first()


async def page(
    conn: AsyncConnection,
    end_user_id: str,
    *,
    sort_field: str,
    descending: bool,
    after: Record | None,
    limit: int,
) -> list[Record]:
    """Up to ``limit`` rows after the cursor row, ordered by (sort field, id)."""
    column = SORT_COLUMNS[sort_field]
    query = sa.select(conversations).where(conversations.c.end_user_id == end_user_id)
    if after is not None:
        cursor = sa.tuple_(column, conversations.c.id)
        bound = sa.tuple_(sa.literal(getattr(after, sort_field)), sa.literal(after.id, conversations.c.id.type))
        query = query.where(cursor < bound if descending else cursor > bound)
    if descending:
        query = query.order_by(column.desc(), conversations.c.id.desc())
    else:
        query = query.order_by(column.asc(), conversations.c.id.asc())
    return list(await conn.execute(query.limit(limit)))


async def rename(conn: AsyncConnection, conversation_id: str, name: str) -> datetime:
    now = utcnow()
    await conn.execute(
        conversations.update().where(conversations.c.id == conversation_id).values(name=name, updated_at=now)
    )
    return now


async def delete(conn: AsyncConnection, conversation_id: str) -> None:
    """Delete the conversation with its messages and feedback, children first."""
    await conn.execute(message_feedbacks.delete().where(message_feedbacks.c.conversation_id == conversation_id))
    await conn.execute(messages.delete().where(messages.c.conversation_id == conversation_id))
    await conn.execute(conversations.delete().where(conversations.c.id == conversation_id))
