"""Conversations: look up by owner, keyset pages, rename, delete (the chat path creates them
through store/writer.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.domain.paging import Page
from difychat.server.domain.records import Conversation
from difychat.server.store.common import Record, utcnow
from difychat.server.store.paging import Cursor, keyset_page, past
from difychat.server.store.schema import conversations, message_feedbacks, messages

SortField = Literal["created_at", "updated_at"]
SORT_COLUMNS = {"created_at": conversations.c.created_at, "updated_at": conversations.c.updated_at}


def conversation_of(row: Record) -> Conversation:
    return Conversation(
        id=str(row.id),
        app_id=str(row.app_id),
        app_config_id=str(row.app_config_id),
        end_user_id=str(row.end_user_id),
        mode=row.mode,
        name=row.name,
        inputs=row.inputs,
        introduction=row.introduction,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def cursor_of(conversation: Conversation, sort_field: SortField) -> Cursor:
    value = conversation.created_at if sort_field == "created_at" else conversation.updated_at
    return Cursor(value, conversation.id)


async def owned(conn: AsyncConnection, conversation_id: str, end_user_id: str) -> Conversation | None:
    """The conversation if ``end_user_id`` owns it (end users belong to one app)."""
    row = (
        await conn.execute(
            sa.select(conversations).where(
                conversations.c.id == conversation_id, conversations.c.end_user_id == end_user_id
            )
        )
    ).first()
    return None if row is None else conversation_of(row)


async def page(
    conn: AsyncConnection,
    end_user_id: str,
    *,
    sort_field: SortField,
    descending: bool,
    after: Cursor | None,
    limit: int,
) -> Page[Conversation]:
    """Up to ``limit`` conversations past the cursor, ordered by (sort field, id)."""
    column = SORT_COLUMNS[sort_field]
    query = sa.select(conversations).where(conversations.c.end_user_id == end_user_id)
    if after is not None:
        query = query.where(past(after, column, conversations.c.id, descending=descending))
    if descending:
        query = query.order_by(column.desc(), conversations.c.id.desc())
    else:
        query = query.order_by(column.asc(), conversations.c.id.asc())
    return await keyset_page(conn, query, limit, conversation_of)


async def rename(conn: AsyncConnection, conversation_id: str, name: str) -> datetime:
    now = utcnow()
    await conn.execute(
        conversations.update().where(conversations.c.id == conversation_id).values(name=name, updated_at=now)
    )
    return now


async def delete(conn: AsyncConnection, conversation_id: str) -> None:
    """Delete the conversation with its messages and feedback, children first."""
    await conn.execute(
        message_feedbacks.delete().where(message_feedbacks.c.conversation_id == conversation_id)
    )
    await conn.execute(messages.delete().where(messages.c.conversation_id == conversation_id))
    await conn.execute(conversations.delete().where(conversations.c.id == conversation_id))
