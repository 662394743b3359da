"""Messages: lookups and pages (the chat path writes them through store/writer.py)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.domain.paging import Page
from difychat.server.domain.records import Message
from difychat.server.store.common import Record
from difychat.server.store.paging import Cursor, keyset_page, past
from difychat.server.store.schema import messages


def message_of(row: Record) -> Message:
    return Message(
        id=str(row.id),
        app_id=str(row.app_id),
        conversation_id=str(row.conversation_id),
        end_user_id=str(row.end_user_id),
        task_id=str(row.task_id),
        parent_message_id=str(row.parent_message_id) if row.parent_message_id else None,
        query=row.query,
        inputs=row.inputs,
        answer=row.answer,
        status=row.status,
        error=row.error,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        usage=row.usage,
        retriever_resources=row.retriever_resources,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def owned(conn: AsyncConnection, message_id: str, end_user_id: str) -> Message | None:
    row = (
        await conn.execute(
            sa.select(messages).where(messages.c.id == message_id, messages.c.end_user_id == end_user_id)
        )
    ).first()
    return None if row is None else message_of(row)


async def in_conversation(conn: AsyncConnection, message_id: str, conversation_id: str) -> Cursor | None:
    """Where the history resumes from the message, if it belongs to the conversation."""
    row = (
        await conn.execute(
            sa.select(messages.c.id, messages.c.created_at).where(
                messages.c.id == message_id, messages.c.conversation_id == conversation_id
            )
        )
    ).first()
    return None if row is None else Cursor(row.created_at, str(row.id))


async def page_before(
    conn: AsyncConnection, conversation_id: str, *, before: Cursor | None, limit: int
) -> Page[Message]:
    """The ``limit`` newest messages older than the cursor, oldest first; ``has_more`` when older
    ones remain."""
    query = sa.select(messages).where(messages.c.conversation_id == conversation_id)
    if before is not None:
        query = query.where(past(before, messages.c.created_at, messages.c.id, descending=True))
    query = query.order_by(messages.c.created_at.desc(), messages.c.id.desc())
    newest_first = await keyset_page(conn, query, limit, message_of)
    return Page(newest_first.data[::-1], newest_first.has_more, limit)


async def history_for_memory(conn: AsyncConnection, conversation_id: str, *, limit: int) -> list[Record]:
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


async def turns_up_to(conn: AsyncConnection, message: Message, *, limit: int) -> list[Record]:
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
