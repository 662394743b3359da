"""Conversation variables: created together, listed by keyset, updated one at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.domain.paging import Page
from difychat.server.domain.records import ConversationVariable
from difychat.server.store.common import Record
from difychat.server.store.paging import Cursor, keyset_page, past
from difychat.server.store.schema import conversation_variables as table


def variable_of(row: Record) -> ConversationVariable:
    return ConversationVariable(
        id=str(row.id),
        conversation_id=str(row.conversation_id),
        name=row.name,
        value_type=row.value_type,
        value=row.value,
        description=row.description,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def count(conn: AsyncConnection, conversation_id: str) -> int:
    query = sa.select(sa.func.count()).where(table.c.conversation_id == conversation_id)
    return int((await conn.execute(query)).scalar_one())


async def insert_missing(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Insert the rows, skipping names the conversation already has (concurrent first reads)."""
    if not rows:
        return
    insert: Any = postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    await conn.execute(insert.on_conflict_do_nothing(index_elements=["conversation_id", "name"]), rows)


async def in_conversation(
    conn: AsyncConnection, variable_id: str, conversation_id: str
) -> ConversationVariable | None:
    row = (
        await conn.execute(
            sa.select(table).where(table.c.id == variable_id, table.c.conversation_id == conversation_id)
        )
    ).first()
    return None if row is None else variable_of(row)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def page(
    conn: AsyncConnection,
    conversation_id: str,
    *,
    after: Cursor | None,
    name_contains: str | None,
    limit: int,
) -> Page[ConversationVariable]:
    """Up to ``limit`` variables created after the cursor, oldest first."""
    query = sa.select(table).where(table.c.conversation_id == conversation_id)
    if after is not None:
        query = query.where(past(after, table.c.created_at, table.c.id, descending=False))
    if name_contains:
        pattern = f"%{_escape_like(name_contains.lower())}%"
        query = query.where(sa.func.lower(table.c.name).like(pattern, escape="\\"))
    query = query.order_by(table.c.created_at.asc(), table.c.id.asc())
    return await keyset_page(conn, query, limit, variable_of)


async def set_value(conn: AsyncConnection, variable_id: str, value: Any, when: datetime) -> None:
    await conn.execute(table.update().where(table.c.id == variable_id).values(value=value, updated_at=when))
