"""Message feedback: one row per message and source ("user" here, "admin" from a console)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.store.common import Record
from difychat.server.store.schema import message_feedbacks


async def for_message(conn: AsyncConnection, message_id: str, source: str = "user") -> Record | None:
    return (
        await conn.execute(
            sa.select(message_feedbacks).where(
                message_feedbacks.c.message_id == message_id, message_feedbacks.c.from_source == source
            )
        )
    ).first()


async def ratings_by_user(conn: AsyncConnection, message_ids: list[str], end_user_id: str) -> dict[str, str]:
    if not message_ids:
        return {}
    rows = await conn.execute(
        sa.select(message_feedbacks.c.message_id, message_feedbacks.c.rating).where(
            message_feedbacks.c.message_id.in_(message_ids),
            message_feedbacks.c.from_source == "user",
            message_feedbacks.c.from_end_user_id == end_user_id,
        )
    )
    return {str(r.message_id): str(r.rating) for r in rows}


async def insert(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(message_feedbacks.insert().values(**values))


async def update(conn: AsyncConnection, feedback_id: str, **values: Any) -> None:
    await conn.execute(message_feedbacks.update().where(message_feedbacks.c.id == feedback_id).values(**values))


async def delete(conn: AsyncConnection, feedback_id: str) -> None:
    await conn.execute(message_feedbacks.delete().where(message_feedbacks.c.id == feedback_id))


async def app_page(conn: AsyncConnection, app_id: str, *, offset: int, limit: int) -> list[Record]:
    query = (
        sa.select(message_feedbacks)
        .where(message_feedbacks.c.app_id == app_id)
        .order_by(message_feedbacks.c.created_at.desc(), message_feedbacks.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(await conn.execute(query))
