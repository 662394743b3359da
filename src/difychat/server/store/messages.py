"""Messages: lookups and pages (the chat path writes them through store/writer.py)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.store.common import Record
from difychat.server.store.schema import messages


async def owned(conn: AsyncConnection, message_id: str, end_user_id: str) -> Record | None:
    return (
        await conn.execute(
            sa.select(messages).where(messages.c.id == message_id, messages.c.end_user_id == end_user_id)
        )
    ).first()


async def in_conversation(conn: AsyncConnection, message_id: str, conversation_id: str) -> Record | None:
    return (
        await conn.execute(
            sa.select(messages.c.id, messages.c.created_at).where(
                messages.c.id == message_id, messages.c.conversation_id == conversation_id
            )
        )
    ).first()


async def newest_first(
    conn: AsyncConnection, conversation_id: str, *, before: Record | None, limit: int
) -> list[Record]:
    """Up to ``limit`` messages older than the cursor, newest first."""
    query = sa.select(messages).where(messages.c.conversation_id == conversation_id)
    if before is not None:
        query = query.where(
            sa.tuple_(messages.c.created_at, messages.c.id)
            < sa.tuple_(sa.literal(before.created_at), sa.literal(before.id, messages.c.id.type))
        )
    query = query.order_by(messages.c.created_at.desc(), messages.c.id.desc()).limit(limit)
    return list(await conn.execute(query))


async def history_for_memory(
    conn: AsyncConnection, conversation_id: str, *, limit: int
) -> list[Record]:
    """The latest finished turns, newest first, for the model's memory."""
    query = (
        sa.select(messages.c.query, messages.c.answer)
        .where(
            messages.c.conversation_id == conversation_id,
            messages.c.status.in_(("normal", "stopped")),
        )
        .order_by(messages.c.created_at.desc(), messages.c.id.desc())
        .limit(limit)
    )
    return list(await conn.execute(query))


async def by_task(conn: AsyncConnection, task_id: str) -> Record | None:
    return (
        await conn.execute(
            sa.select(messages.c.id, messages.c.end_user_id, messages.c.app_id, messages.c.status).where(
                messages.c.task_id == task_id
            )
        )
    ).first()


async def first_query(conn: AsyncConnection, conversation_id: str) -> str | None:
    row = (
        await conn.execute(
            sa.select(messages.c.query)
            .where(messages.c.conversation_id == conversation_id)
            .order_by(messages.c.created_at.asc(), messages.c.id.asc())
            .limit(1)
        )
    ).first()
    return None if row is None else str(row.query)


async def turns_up_to(conn: AsyncConnection, message: Record, *, limit: int) -> list[Record]:
    """Up to ``limit`` answered turns of the message's conversation, ending with it, newest first."""
    query = (
        sa.select(messages.c.query, messages.c.answer)
        .where(
            messages.c.conversation_id == message.conversation_id,
            messages.c.status.in_(("normal", "stopped")),
            sa.tuple_(messages.c.created_at, messages.c.id)
            <= sa.tuple_(sa.literal(message.created_at), sa.literal(message.id, messages.c.id.type)),
        )
        .order_by(messages.c.created_at.desc(), messages.c.id.desc())
        .limit(limit)
    )
    return list(await conn.execute(query))
