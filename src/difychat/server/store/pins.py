"""Pinned conversations (the web chat page's sidebar): pin, unpin, and pages with or without them.

A pin row goes with its conversation (``ON DELETE CASCADE``). The pinned and the unpinned pages are
the conversations page of ``store/conversations.py`` with an ``EXISTS`` filter on the pin table.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.domain.paging import Page
from difychat.server.domain.records import Conversation
from difychat.server.store.common import insert_ignoring_conflicts, utcnow
from difychat.server.store.conversations import SORT_COLUMNS, SortField, conversation_of
from difychat.server.store.paging import Cursor, keyset_page, past
from difychat.server.store.schema import conversations, pinned_conversations


async def pin(conn: AsyncConnection, conversation_id: str, end_user_id: str) -> None:
    """Pin the conversation (pinning it again keeps the first pin)."""
    values = {"conversation_id": conversation_id, "end_user_id": end_user_id, "created_at": utcnow()}
    await conn.execute(insert_ignoring_conflicts(conn, pinned_conversations, values))


async def unpin(conn: AsyncConnection, conversation_id: str) -> None:
    await conn.execute(
        pinned_conversations.delete().where(pinned_conversations.c.conversation_id == conversation_id)
    )


async def page(
    conn: AsyncConnection,
    end_user_id: str,
    *,
    pinned: bool | None,
    sort_field: SortField,
    descending: bool,
    after: Cursor | None,
    limit: int,
) -> Page[Conversation]:
    """Up to ``limit`` of the user's conversations past the cursor: only the pinned ones (``True``),
    only the others (``False``) or all (``None``), ordered by (sort field, id)."""
    column = SORT_COLUMNS[sort_field]
    query = sa.select(conversations).where(conversations.c.end_user_id == end_user_id)
    if pinned is not None:
        is_pinned = sa.exists().where(pinned_conversations.c.conversation_id == conversations.c.id)
        query = query.where(is_pinned if pinned else ~is_pinned)
    if after is not None:
        query = query.where(past(after, column, conversations.c.id, descending=descending))
    if descending:
        query = query.order_by(column.desc(), conversations.c.id.desc())
    else:
        query = query.order_by(column.asc(), conversations.c.id.asc())
    return await keyset_page(conn, query, limit, conversation_of)
