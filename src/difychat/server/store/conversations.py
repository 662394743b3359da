"""Conversations: look up by owner, keyset pages, rename, delete (the chat path creates them
through store/writer.py)."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.domain.paging import Page
from difychat.server.domain.records import Conversation
from difychat.server.store.common import Record, utcnow
from difychat.server.store.paging import Cursor, page_id, page_json
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


# The conversation if its end user is the one asking (end users belong to one app); built once.
OWNED = sa.select(conversations).where(
    conversations.c.id == sa.bindparam("conversation_id"),
    conversations.c.end_user_id == sa.bindparam("end_user_id"),
)


async def owned(conn: AsyncConnection, conversation_id: str, end_user_id: str) -> Conversation | None:
    """The conversation if ``end_user_id`` owns it (end users belong to one app)."""
    params = {"conversation_id": conversation_id, "end_user_id": end_user_id}
    row = (await conn.execute(OWNED, params)).first()
    return None if row is None else conversation_of(row)


async def page(
    conn: AsyncConnection,
    end_user_id: str,
    *,
    sort_field: SortField,
    descending: bool,
    last_id: str | None,
    limit: int,
) -> Page[Conversation]:
    """Up to ``limit`` of the user's conversations after ``last_id``, ordered by (sort field, id),
    in one statement. Empty too when ``last_id`` is not one of the user's conversations: the
    caller tells that apart (when the page is empty) with ``owned``."""
    params: dict[str, Any] = {"end_user_id": end_user_id, "limit": limit + 1}
    if last_id is not None:
        params["last_id"] = last_id
    statement = _page_statement(sort_field, descending, after_cursor=last_id is not None)
    rows = (await conn.execute(statement, params)).all()
    return Page(
        [Conversation(row[0], row[1], row[2], end_user_id, *row[3:]) for row in rows[:limit]],
        len(rows) > limit,
        limit,
    )


@functools.cache
def _page_statement(sort_field: SortField, descending: bool, *, after_cursor: bool) -> sa.Select[Any]:
    """The page statement for one order, built once: bound ``end_user_id``, ``limit`` and, after a
    cursor, ``last_id`` (whose sort value the statement looks up itself)."""
    c = conversations.c
    column = SORT_COLUMNS[sort_field]
    end_user_id = sa.bindparam("end_user_id", type_=c.end_user_id.type)
    query = sa.select(
        page_id(c.id),
        page_id(c.app_id),
        page_id(c.app_config_id),
        c.mode,
        c.name,
        page_json(c.inputs),
        c.introduction,
        c.status,
        c.created_at,
        c.updated_at,
    ).where(c.end_user_id == end_user_id)
    if after_cursor:
        last_id = sa.bindparam("last_id", type_=c.id.type)
        cursor_row = conversations.alias("cursor_row")
        cursor_value = (
            sa.select(cursor_row.c[sort_field])
            .where(cursor_row.c.id == last_id, cursor_row.c.end_user_id == end_user_id)
            .scalar_subquery()
        )
        key, bound = sa.tuple_(column, c.id), sa.tuple_(cursor_value, last_id)
        query = query.where(key < bound if descending else key > bound)
    order = (column.desc(), c.id.desc()) if descending else (column.asc(), c.id.asc())
    return query.order_by(*order).limit(sa.bindparam("limit"))


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
