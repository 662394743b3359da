"""Durable indexing jobs: one per document, claimed by any worker, held by a renewed lease.

A claim is one UPDATE of a single eligible row (``waiting`` and due, or ``running`` with a lease
that ran out), picked with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so workers never wait on each
other; SQLite has one writer at a time, so the same statement is atomic there. Every later write
of the holder starts with ``renew``: an UPDATE that only matches while the job is still its own,
which also locks the row (PostgreSQL) or the database (SQLite) for the rest of that transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.store.common import Record, new_id
from difychat.server.store.schema import indexing_jobs

WAITING = "waiting"
RUNNING = "running"
COMPLETED = "completed"
ERROR = "error"


@dataclass(frozen=True, slots=True)
class Claim:
    id: str
    document_id: str
    dataset_id: str
    batch: str
    # Counting this one.
    attempts: int
    max_attempts: int
    last_error: str | None


async def drop(conn: AsyncConnection, document_id: str) -> None:
    """Delete the document's job (its holder stops at its next step). A transaction that changes a
    document drops or replaces its job first: the order a worker holds them in, its lease first."""
    await conn.execute(indexing_jobs.delete().where(indexing_jobs.c.document_id == document_id))


async def enqueue(
    conn: AsyncConnection, *, document_id: str, dataset_id: str, batch: str, max_attempts: int, now: datetime
) -> str:
    """A fresh job for the document, replacing any earlier one (whose holder then stops)."""
    await drop(conn, document_id)
    job_id = new_id()
    await conn.execute(
        indexing_jobs.insert().values(
            id=job_id,
            document_id=document_id,
            dataset_id=dataset_id,
            batch=batch,
            state=WAITING,
            attempts=0,
            max_attempts=max_attempts,
            run_after=now,
            worker_id=None,
            heartbeat_at=None,
            last_error=None,
            created_at=now,
            updated_at=now,
        )
    )
    return job_id


def _due(now: datetime, lease: timedelta) -> sa.ColumnElement[bool]:
    """Jobs waiting for their time, and running jobs whose worker stopped renewing the lease."""
    j = indexing_jobs.c
    return sa.or_(
        sa.and_(j.state == WAITING, j.run_after <= now),
        sa.and_(j.state == RUNNING, j.heartbeat_at < now - lease),
    )


async def any_due(conn: AsyncConnection, now: datetime, lease: timedelta) -> bool:
    """Whether a claim could find a job: a read, so an idle poll never takes the write lock."""
    found = await conn.execute(sa.select(indexing_jobs.c.id).where(_due(now, lease)).limit(1))
    return found.first() is not None


async def claim(conn: AsyncConnection, worker_id: str, now: datetime, lease: timedelta) -> Claim | None:
    j = indexing_jobs.c
    due = _due(now, lease)
    pick = sa.select(j.id).where(due).order_by(j.run_after, j.created_at).limit(1)
    if conn.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    row = (
        await conn.execute(
            indexing_jobs.update()
            .where(j.id == pick.scalar_subquery(), due)
            .values(
                state=RUNNING, worker_id=worker_id, heartbeat_at=now, attempts=j.attempts + 1, updated_at=now
            )
            .returning(j.id, j.document_id, j.dataset_id, j.batch, j.attempts, j.max_attempts, j.last_error)
        )
    ).first()
    if row is None:
        return None
    return Claim(
        str(row.id),
        str(row.document_id),
        str(row.dataset_id),
        row.batch,
        int(row.attempts),
        int(row.max_attempts),
        row.last_error,
    )


async def renew(conn: AsyncConnection, job_id: str, worker_id: str, attempt: int, now: datetime) -> bool:
    """Extend the lease of this claim (the worker's, counted as ``attempt``); False when the job is no
    longer held by it: replaced, deleted, taken over, or claimed again after its lease ran out, by
    another worker or by the same one while this attempt still ran."""
    j = indexing_jobs.c
    result = await conn.execute(
        indexing_jobs.update()
        .where(j.id == job_id, j.worker_id == worker_id, j.attempts == attempt, j.state == RUNNING)
        .values(heartbeat_at=now)
    )
    return bool(result.rowcount)


async def finish(
    conn: AsyncConnection, job_id: str, state: str, last_error: str | None, now: datetime
) -> None:
    await conn.execute(
        indexing_jobs.update()
        .where(indexing_jobs.c.id == job_id)
        .values(state=state, last_error=last_error, worker_id=None, updated_at=now)
    )


async def retry_later(
    conn: AsyncConnection, job_id: str, run_after: datetime, last_error: str, now: datetime
) -> None:
    await conn.execute(
        indexing_jobs.update()
        .where(indexing_jobs.c.id == job_id)
        .values(state=WAITING, run_after=run_after, last_error=last_error, worker_id=None, updated_at=now)
    )


async def release(conn: AsyncConnection, worker_id: str, now: datetime) -> list[str]:
    """At a clean shutdown: the worker's running jobs wait again, the interrupted attempt not
    counted. Returns their document ids."""
    j = indexing_jobs.c
    result = await conn.execute(
        indexing_jobs.update()
        .where(j.worker_id == worker_id, j.state == RUNNING)
        .values(state=WAITING, worker_id=None, run_after=now, attempts=j.attempts - 1, updated_at=now)
        .returning(j.document_id)
    )
    return [str(r.document_id) for r in result]


async def job_of(conn: AsyncConnection, document_id: str) -> Record | None:
    j = indexing_jobs.c
    return (
        await conn.execute(
            sa.select(j.state, j.batch, j.attempts, j.last_error).where(j.document_id == document_id)
        )
    ).first()


async def requeue_failed(conn: AsyncConnection, dataset_id: str, now: datetime) -> list[str]:
    """Give the dataset's failed jobs a new budget; returns their document ids."""
    j = indexing_jobs.c
    result = await conn.execute(
        indexing_jobs.update()
        .where(j.dataset_id == dataset_id, j.state == ERROR)
        .values(state=WAITING, attempts=0, run_after=now, last_error=None, worker_id=None, updated_at=now)
        .returning(j.document_id)
    )
    return [str(r.document_id) for r in result]
