"""Stop requests relayed through the database between worker processes."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.store.common import utcnow
from difychat.server.store.schema import stop_requests


async def add(conn: AsyncConnection, task_id: str) -> None:
    await conn.execute(stop_requests.insert().values(task_id=task_id, created_at=utcnow()))


async def newest_id(conn: AsyncConnection) -> int:
    newest = sa.select(sa.func.coalesce(sa.func.max(stop_requests.c.id), 0))
    return int((await conn.execute(newest)).scalar_one())


async def since(conn: AsyncConnection, after_id: int) -> list[tuple[int, str]]:
    rows = await conn.execute(
        sa.select(stop_requests.c.id, stop_requests.c.task_id)
        .where(stop_requests.c.id > after_id)
        .order_by(stop_requests.c.id)
    )
    return [(int(r.id), str(r.task_id)) for r in rows]


async def prune(conn: AsyncConnection, older_than: timedelta) -> None:
    await conn.execute(stop_requests.delete().where(stop_requests.c.created_at < utcnow() - older_than))
