"""Message feedback: one row per message and source ("user" here, "admin" from a console)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.domain.records import Feedback
from difychat.server.store.common import Record
from difychat.server.store.schema import message_feedbacks


def feedback_of(row: Record) -> Feedback:
    return Feedback(
        id=str(row.id),
        app_id=str(row.app_id),
        conversation_id=str(row.conversation_id),
        message_id=str(row.message_id),
        rating=row.rating,
        content=row.content,
        from_source=row.from_source,
        from_end_user_id=str(row.from_end_user_id) if row.from_end_user_id else None,
        from_account_id=str(row.from_account_id) if row.from_account_id else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def for_message(conn: AsyncConnection, message_id: str, source: str = "user") -> Feedback | None:
    row = (
        await conn.execute(
            sa.select(message_feedbacks).where(
                message_feedbacks.c.message_id == message_id, message_feedbacks.c.from_source == source
            )
        )
    ).first()
    return None if row is None else feedback_of(row)


async def insert(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(message_feedbacks.insert().values(**values))


async def update(conn: AsyncConnection, feedback_id: str, **values: Any) -> None:
    await conn.execute(
        message_feedbacks.update().where(message_feedbacks.c.id == feedback_id).values(**values)
    )


async def delete(conn: AsyncConnection, feedback_id: str) -> None:
    await conn.execute(message_feedbacks.delete().where(message_feedbacks.c.id == feedback_id))


async def app_page(conn: AsyncConnection, app_id: str, *, offset: int, limit: int) -> list[Feedback]:
    query = (
        sa.select(message_feedbacks)
        .where(message_feedbacks.c.app_id == app_id)
        .order_by(message_feedbacks.c.created_at.desc(), message_feedbacks.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return [feedback_of(row) for row in await conn.execute(query)]
