"""Worker leases: live processes, their heartbeats, and the answers a dead one left running."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.store.schema import messages, workers

INTERRUPTED = "The answer was interrupted: the server process running it stopped."


async def register(conn: AsyncConnection, worker_id: str, host: str, pid: int, now: datetime) -> None:
    await conn.execute(
        workers.insert().values(id=worker_id, host=host, pid=pid, started_at=now, heartbeat_at=now)
    )


async def heartbeat(conn: AsyncConnection, worker_id: str, now: datetime) -> bool:
    """Renew the lease; False when the row is gone (another process declared this one dead)."""
    result = await conn.execute(workers.update().where(workers.c.id == worker_id).values(heartbeat_at=now))
    return bool(result.rowcount)


async def unregister(conn: AsyncConnection, worker_id: str) -> None:
    await conn.execute(workers.delete().where(workers.c.id == worker_id))


async def recover(conn: AsyncConnection, *, expired_before: datetime, now: datetime) -> int:
    """End the answers of dead workers (and of releases without leases) as interrupted errors,
    keeping the text checkpointed so far; forget the dead workers. Returns the answers ended."""
    dead = sa.select(workers.c.id).where(workers.c.heartbeat_at < expired_before)
    live = sa.select(workers.c.id)
    orphaned = sa.or_(
        messages.c.worker_id.in_(dead),
        # A running answer whose worker row is gone, or that no worker ever claimed, is orphaned
        # once it has been quiet for a whole lease.
        sa.and_(
            messages.c.updated_at < expired_before,
            sa.or_(messages.c.worker_id.is_(None), messages.c.worker_id.not_in(live)),
        ),
    )
    result = await conn.execute(
        messages.update()
        .where(messages.c.status == "running", orphaned)
        .values(status="error", error=INTERRUPTED, updated_at=now)
    )
    await conn.execute(workers.delete().where(workers.c.heartbeat_at < expired_before))
    return int(result.rowcount or 0)
