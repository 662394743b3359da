"""A statement that waits on a stuck database fails after the engine's statement timeout instead of
holding its request (or its turn) for as long as the database stays stuck."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from difychat.server.store import db

pytestmark = pytest.mark.anyio


async def test_a_write_waiting_on_a_held_lock_fails_after_the_statement_timeout(database_url: str) -> None:
    holder = db.create_engine(database_url, pool_size=1)
    waiter = db.create_engine(database_url, pool_size=1, statement_timeout=0.5)
    try:
        async with holder.connect() as held:
            if db.is_sqlite(database_url):
                await held.exec_driver_sql("BEGIN IMMEDIATE")  # the database's one write lock
            else:
                await held.execute(sa.text("BEGIN"))
                await held.execute(sa.text("LOCK TABLE apps IN ACCESS EXCLUSIVE MODE"))
            started = time.monotonic()
            # SQLite: OperationalError (database is locked); PostgreSQL: asyncpg's TimeoutError.
            with pytest.raises((sa.exc.DBAPIError, TimeoutError)):
                async with waiter.begin() as conn:
                    await conn.execute(sa.text("UPDATE apps SET name = name"))
            waited = time.monotonic() - started
            await held.rollback()
        assert 0.4 <= waited < 10
        # Once the lock is gone, the same engine writes again.
        async with waiter.begin() as conn:
            await conn.execute(sa.text("UPDATE apps SET name = name"))
    finally:
        await waiter.dispose()
        await holder.dispose()
