"""A write cancelled while SQLite runs it (a shutdown, a timeout) gives the database's write lock back
at once, instead of when the garbage collector frees the cancelled frames."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from difychat.server.store import db

pytestmark = pytest.mark.anyio


@contextlib.contextmanager
def garbage_kept() -> Iterator[None]:
    """Frames left in reference cycles stay alive (as they may for a while in a busy process)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def test_a_write_cancelled_mid_statement_releases_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "cancelled.db"
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}", pool_size=1)
    in_statement = threading.Event()

    def slow(value: Any) -> Any:  # runs in the connection's thread, inside the UPDATE
        in_statement.set()
        time.sleep(0.2)
        return value

    def register(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("slow", 1, slow)

    sa.event.listen(engine.sync_engine, "connect", register)

    async def write() -> None:
        # Several rows in one statement (``executemany``): sqlite3 leaves its statement in use.
        async with engine.begin() as conn:
            rows = [{"id": 1, "v": "x"}, {"id": 1, "v": "y"}]
            await conn.execute(sa.text("UPDATE t SET v = slow(:v) WHERE id = :id"), rows)

    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
            await conn.execute(sa.text("INSERT INTO t VALUES (1, 'a')"))
        with garbage_kept():
            task = asyncio.create_task(write())
            await asyncio.to_thread(in_statement.wait, 5)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            other = sqlite3.connect(path, timeout=1)
            try:
                started = time.monotonic()
                other.execute("UPDATE t SET v = 'b'")
                other.commit()
                waited = time.monotonic() - started
                assert other.execute("SELECT v FROM t").fetchone() == ("b",)
            finally:
                other.close()
        assert waited < 0.5
        # The engine writes again too, on a fresh connection.
        async with engine.begin() as conn:
            await conn.execute(sa.text("UPDATE t SET v = 'c'"))
    finally:
        await engine.dispose()


def test_closing_a_connection_mid_transaction_rolls_it_back(tmp_path: Path) -> None:
    """The same on the blocking engines (the group writer's, the readers'): a connection closed
    while one of its cursors is still held ends its transaction."""
    engine = db.create_sync_engine(f"sqlite:///{tmp_path / 'closed.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
            conn.execute(sa.text("INSERT INTO t VALUES (1, 'a')"))
        raw = engine.raw_connection()
        cursor = raw.cursor()
        cursor.executemany("UPDATE t SET v = ? WHERE id = 1", [("b",), ("c",)])
        raw.invalidate()  # closes the DB-API connection, the cursor still referenced
        other = sqlite3.connect(tmp_path / "closed.db", timeout=0.5)
        try:
            other.execute("UPDATE t SET v = 'd'")
            other.commit()
            assert other.execute("SELECT v FROM t").fetchone() == ("d",)
        finally:
            other.close()
        del cursor
    finally:
        engine.dispose()


def test_a_connection_closed_twice_closes_quietly(tmp_path: Path) -> None:
    """A pool that invalidated a connection, then its driver's own shutdown, both close it: the
    second close is a no-op, as on any ``sqlite3`` connection, not an error in the driver's thread."""
    connection = sqlite3.connect(tmp_path / "twice.db", factory=db.SqliteConnection)
    connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    connection.execute("INSERT INTO t VALUES (1)")
    assert connection.in_transaction
    connection.close()
    connection.close()
    with pytest.raises(sqlite3.ProgrammingError):
        connection.execute("SELECT 1")
    reopened = sqlite3.connect(tmp_path / "twice.db")
    try:
        assert reopened.execute("SELECT count(*) FROM t").fetchone() == (0,)  # rolled back
    finally:
        reopened.close()
