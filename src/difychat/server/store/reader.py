"""Reads done in one go: a function of a blocking ``Connection`` that may run several statements.

Through the async engine each statement costs several round trips, and on SQLite each of those is
a hop to aiosqlite's thread and back (about 0.1 ms of CPU apiece under load, for the hand-off of
the GIL alone): a continuing chat turn's two reads made ten. Here, on SQLite, the whole function
runs in a reader thread of its own on a plain ``sqlite3`` connection (WAL: readers never wait for
the writer), one hop for all of it; on PostgreSQL it runs on the async engine through
``run_sync``, asyncpg underneath.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.store import db

P = ParamSpec("P")
T = TypeVar("T")


class Reader:
    def __init__(self, engine: AsyncEngine, *, threads: int = 2) -> None:
        self._engine = engine
        self._sync: Engine | None = None
        self._threads: ThreadPoolExecutor | None = None
        if engine.url.get_backend_name() == "sqlite":
            self._sync = db.create_sync_engine(engine.url.set(drivername="sqlite"), pool_size=threads)
            self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="difychat-reader")

    async def run(
        self, read: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``read(connection, *args, **kwargs)``, in a transaction that is only read."""
        if self._sync is not None and self._threads is not None:
            sync = self._sync

            def run() -> T:
                with sync.connect() as conn:
                    return read(conn, *args, **kwargs)

            return await asyncio.get_running_loop().run_in_executor(self._threads, run)
        async with self._engine.connect() as conn:
            return await conn.run_sync(lambda sync_conn: read(sync_conn, *args, **kwargs))

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True)
        if self._sync is not None:
            self._sync.dispose()
