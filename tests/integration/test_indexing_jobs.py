"""Indexing job leases on a real database: a claim is exclusive, a lease that ran out (its worker
died, or its writes stalled) is taken over with the attempt counted, and the old attempt can no
longer write, even when the worker that took it over is its own."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.store import db
from difychat.server.store import indexing_jobs as jobs
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.schema import datasets, documents

pytestmark = pytest.mark.anyio

LEASE = timedelta(seconds=30)


async def _queued_job(engine: AsyncEngine, now: datetime) -> str:
    """A dataset with one document waiting for its job; the document's id."""
    dataset_id, document_id = new_id(), new_id()
    async with engine.begin() as conn:
        await conn.execute(
            datasets.insert().values(
                id=dataset_id, name="D", description="", provider="vendor", permission="only_me",
                enable_api=True, partial_member_list=[], created_by=new_id(), created_at=now,
                updated_at=now,
            )
        )  # fmt: skip
        await conn.execute(
            documents.insert().values(
                id=document_id, dataset_id=dataset_id, position=1, data_source_type="upload_file",
                batch="b1", name="doc", created_from="api", created_by=new_id(),
                indexing_status="waiting", enabled=True, archived=False, doc_form="text_model",
                created_at=now, updated_at=now,
            )
        )  # fmt: skip
        await jobs.enqueue(
            conn, document_id=document_id, dataset_id=dataset_id, batch="b1", max_attempts=3, now=now
        )
    return document_id


async def test_a_dead_workers_job_is_taken_over(database_url: str) -> None:
    engine = db.create_engine(database_url, pool_size=1)
    now = utcnow()
    try:
        document_id = await _queued_job(engine, now)
        first, second = new_id(), new_id()
        async with engine.begin() as conn:
            claim = await jobs.claim(conn, first, now, LEASE)
        assert claim is not None and (claim.document_id, claim.attempts) == (document_id, 1)
        async with engine.begin() as conn:
            assert await jobs.claim(conn, second, now + LEASE / 2, LEASE) is None  # still leased
            assert await jobs.renew(conn, claim.id, first, 1, now + LEASE / 2)
        later = now + LEASE / 2 + LEASE + timedelta(seconds=1)  # no heartbeat for a whole lease
        async with engine.begin() as conn:
            taken = await jobs.claim(conn, second, later, LEASE)
        assert taken is not None and (taken.id, taken.attempts) == (claim.id, 2)
        async with engine.begin() as conn:
            assert not await jobs.renew(conn, claim.id, first, 1, later)  # the old holder stops
            assert await jobs.renew(conn, claim.id, second, 2, later)
            assert await jobs.release(conn, second, later) == [document_id]
            again = await jobs.claim(conn, first, later, LEASE)
        assert again is not None and again.attempts == 2  # a clean hand-back does not count
    finally:
        await engine.dispose()


async def test_a_job_claimed_again_by_its_own_worker_stops_the_attempt_still_running(
    database_url: str,
) -> None:
    # A worker whose heartbeat stalled past the lease (its writes waited on a lock) claims its own
    # job again; the attempt it was still running must no longer count as the holder, or two runs of
    # one document write at once (one deleting the other's segments, then marking it completed).
    engine = db.create_engine(database_url, pool_size=1)
    now = utcnow()
    try:
        await _queued_job(engine, now)
        worker = new_id()
        async with engine.begin() as conn:
            claim = await jobs.claim(conn, worker, now, LEASE)
        assert claim is not None and claim.attempts == 1
        later = now + LEASE + timedelta(seconds=1)
        async with engine.begin() as conn:
            again = await jobs.claim(conn, worker, later, LEASE)
        assert again is not None and (again.id, again.attempts) == (claim.id, 2)
        async with engine.begin() as conn:
            assert not await jobs.renew(conn, claim.id, worker, claim.attempts, later)
            assert await jobs.renew(conn, again.id, worker, again.attempts, later)
    finally:
        await engine.dispose()
