"""Messages: lookups and pages (the chat path writes them through store/writer.py)."""

from __future__ import annotations

from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.domain.paging import Page
from difychat.server.domain.records import Message, ShownMessage
from difychat.server.store.common import Record
from difychat.server.store.paging import Cursor, page_id, page_json
from difychat.server.store.schema import (
    conversations,
    message_agent_thoughts,
    message_feedbacks,
    message_files,
    messages,
)


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


class HistoryRow(NamedTuple):
    message: ShownMessage
    rating: str | None
    has_files: bool
    has_thoughts: bool


# What the history shows of a message, in ``ShownMessage`` order after its id and conversation (the
# conversation is the one asked for, so it is not read).
_SHOWN = (
    page_id(messages.c.id),
    page_id(messages.c.parent_message_id),
    messages.c.query,
    page_json(messages.c.inputs),
    messages.c.answer,
    messages.c.status,
    messages.c.error,
    page_json(messages.c.usage),
    page_json(messages.c.retriever_resources),
    messages.c.created_at,
)


def _any_row(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    """Whether a row meets ``condition``, probed through its index for each message of the page.
    (PostgreSQL may run a plain ``EXISTS`` as one hashed scan of the whole table instead.)"""
    return sa.select(sa.literal(1)).where(condition).limit(1).scalar_subquery().is_not(None)


def _history_statement(*, after_cursor: bool) -> sa.Select[Any]:
    """The history page as one statement, built once: bound ``conversation_id``, ``end_user_id``,
    ``limit`` and, ``after_cursor``, ``first_id``."""
    m = messages.c
    conversation_id = sa.bindparam("conversation_id", type_=m.conversation_id.type)
    end_user_id = sa.bindparam("end_user_id", type_=m.end_user_id.type)
    feedback = message_feedbacks.c
    rating = (
        sa.select(feedback.rating)
        .where(
            feedback.message_id == m.id,
            feedback.from_source == "user",
            feedback.from_end_user_id == end_user_id,
        )
        .scalar_subquery()
    )
    has_files = _any_row(message_files.c.message_id == m.id)
    has_thoughts = _any_row(message_agent_thoughts.c.message_id == m.id)
    owned = sa.exists().where(
        conversations.c.id == conversation_id, conversations.c.end_user_id == end_user_id
    )
    query = sa.select(
        *_SHOWN,
        rating.label("rating"),
        has_files.label("has_files"),
        has_thoughts.label("has_thoughts"),
    ).where(m.conversation_id == conversation_id, owned)
    if after_cursor:
        first_id = sa.bindparam("first_id", type_=m.id.type)
        cursor_row = messages.alias("cursor_row")
        cursor_at = (
            sa.select(cursor_row.c.created_at)
            .where(cursor_row.c.id == first_id, cursor_row.c.conversation_id == conversation_id)
            .scalar_subquery()
        )
        query = query.where(sa.tuple_(m.created_at, m.id) < sa.tuple_(cursor_at, first_id))
    return query.order_by(m.created_at.desc(), m.id.desc()).limit(sa.bindparam("limit"))


_HISTORY = _history_statement(after_cursor=False)
_HISTORY_BEFORE = _history_statement(after_cursor=True)


async def history_page(
    conn: AsyncConnection,
    conversation_id: str,
    end_user_id: str,
    *,
    first_id: str | None,
    limit: int,
) -> Page[HistoryRow]:
    """The history page before ``first_id`` (newest first), in one statement.

    Each item is the message as the history shows it, the owner's own rating (else None), and
    whether it has any files and any agent rounds. Empty when the page is, when the conversation
    is not ``end_user_id``'s, or when ``first_id`` is not one of its messages: the caller tells
    these apart (the rare case) with ``in_conversation`` and the ownership check.
    """
    params: dict[str, Any] = {
        "conversation_id": conversation_id,
        "end_user_id": end_user_id,
        "limit": limit + 1,
    }
    if first_id is None:
        rows = (await conn.execute(_HISTORY, params)).all()
    else:
        params["first_id"] = first_id
        rows = (await conn.execute(_HISTORY_BEFORE, params)).all()
    return Page(
        [
            HistoryRow(
                ShownMessage(row[0], conversation_id, *row[1:10]), row[10], bool(row[11]), bool(row[12])
            )
            for row in rows[:limit]
        ],
        len(rows) > limit,
        limit,
    )


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
