"""Fresh databases for tests: SQLite files and PostgreSQL databases cloned from a migrated template."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from difychat.server.store import db

POSTGRES_ADMIN_URL = os.environ.get(
    "DIFYCHAT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
_counter = itertools.count()
T = TypeVar("T")


def _asyncpg_url(database: str) -> str:
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{database}"


def sqlalchemy_url(database: str) -> str:
    return _asyncpg_url(database).replace("postgresql://", "postgresql+asyncpg://", 1)


async def postgres_available() -> bool:
    try:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


class PostgresDatabases:
    """Migrates one template database, then hands out clones of it (fast: no migrations per test).

    Cloning (``CREATE DATABASE ... TEMPLATE``) and dropping take tens of milliseconds each, mostly
    spent waiting on PostgreSQL's disk writes (a drop waits for a checkpoint). A thread of its own
    keeps a few clones made ahead and drops used ones in the background, several at a time so that
    they share checkpoints; a test waits for neither unless drops fall behind (then ``drop`` waits
    until at most ``BACKLOG`` are pending, so that none pile up for the end of the run). Each clone
    is still used by one test only, and dropped (with any connection left to it) after that test.
    """

    SPARE = 2  # clones made ahead
    DROPPING = 4  # drops at a time
    BACKLOG = 8  # used clones waiting to be dropped before a test waits for them

    def __init__(self) -> None:
        self.prefix = f"difychat_test_{os.getpid()}"
        self.template = f"{self.prefix}_template"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="postgres-clones", daemon=True)
        # Used on that thread only:
        self._created: list[str] = []  # not dropped yet
        self._spares: asyncio.Queue[str | Exception] | None = None  # a failed clone fails its taker
        self._wake: asyncio.Event | None = None
        self._closing = False
        self._worker: asyncio.Task[None] | None = None
        self._dropping: set[asyncio.Task[None]] = set()
        self._drop_slots: asyncio.Semaphore | None = None

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _execute(self, sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def prepare(self) -> None:
        self._thread.start()
        self._call(self._execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)'))
        self._call(self._execute(f'CREATE DATABASE "{self.template}"'))
        db.upgrade(sqlalchemy_url(self.template))
        self._call(self._start())

    async def _start(self) -> None:
        self._spares = asyncio.Queue()
        self._wake = asyncio.Event()
        self._drop_slots = asyncio.Semaphore(self.DROPPING)
        self._worker = asyncio.create_task(self._make_spares())

    async def _make_spares(self) -> None:
        """Keep ``SPARE`` clones ready, on one admin connection."""
        assert self._spares is not None and self._wake is not None
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            while not self._closing:
                if self._spares.qsize() >= self.SPARE:
                    await self._wake.wait()
                    self._wake.clear()
                    continue
                name = f"{self.prefix}_{next(_counter)}"
                self._created.append(name)
                try:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
                    await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
                except Exception as exc:
                    await self._spares.put(exc)
                else:
                    await self._spares.put(name)
        finally:
            await admin.close()

    async def _take(self) -> str:
        assert self._spares is not None and self._wake is not None and self._worker is not None
        getter = asyncio.ensure_future(self._spares.get())
        await asyncio.wait([getter, self._worker], return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            self._worker.result()
            raise RuntimeError("the PostgreSQL clone maker stopped")
        self._wake.set()
        name = getter.result()
        if isinstance(name, Exception):
            raise name
        return name

    async def create(self) -> str:
        name = asyncio.run_coroutine_threadsafe(self._take(), self._loop)
        return sqlalchemy_url(await asyncio.wrap_future(name))

    async def _drop(self, name: str) -> None:
        assert self._drop_slots is not None
        async with self._drop_slots:
            with contextlib.suppress(OSError, asyncpg.PostgresError):  # else left for cleanup() to retry
                await self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                self._created.remove(name)

    async def _release(self, name: str) -> None:
        task = asyncio.create_task(self._drop(name))
        self._dropping.add(task)
        task.add_done_callback(self._dropping.discard)
        while len(self._dropping) > self.BACKLOG:
            await asyncio.wait(self._dropping, return_when=asyncio.FIRST_COMPLETED)

    async def drop(self, url: str) -> None:
        """Drop the clone in the background (the server and the test have let go of it)."""
        release = asyncio.run_coroutine_threadsafe(self._release(url.rsplit("/", 1)[1]), self._loop)
        await asyncio.wrap_future(release)

    async def _close(self) -> None:
        assert self._wake is not None and self._worker is not None
        self._closing = True
        self._wake.set()
        with contextlib.suppress(Exception):
            await self._worker
        await asyncio.gather(*self._dropping, return_exceptions=True)
        # Whatever is left (spares, a failed drop), then the template.
        await asyncio.gather(*(self._drop(name) for name in list(self._created)))
        await self._execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')

    def cleanup(self) -> None:
        try:
            self._call(self._close(), timeout=300)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            if not self._thread.is_alive():
                self._loop.close()


class SqliteDatabases:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.template = root / "template.db"

    def prepare(self) -> None:
        db.upgrade(f"sqlite+aiosqlite:///{self.template}")

    def create(self, directory: Path) -> str:
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / "difychat.db"
        shutil.copyfile(self.template, target)
        return f"sqlite+aiosqlite:///{target}"
