"""Engines and migrations."""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

if TYPE_CHECKING:  # alembic (and mako under it) loads only when migrations are looked at
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


# How long one statement may wait or run: SQLite's busy timeout (a write waiting for the lock),
# PostgreSQL's command timeout (a query or commit, a lock wait included). Past it the statement
# fails, so a stuck database fails the requests and turns that wait on it instead of holding them.
STATEMENT_TIMEOUT = 30.0


def create_engine(
    url: str, *, pool_size: int = 20, statement_timeout: float | None = STATEMENT_TIMEOUT
) -> AsyncEngine:
    """An async engine tuned per backend: SQLite in WAL mode, PostgreSQL with a pool.

    ``statement_timeout=None`` lets PostgreSQL statements run unbounded (migrations: a long index
    build, or the wait for another host's migration); SQLite then keeps the default busy timeout.
    """
    if is_sqlite(url):
        # sqlite3's ``timeout`` is the connection's busy timeout.
        busy = STATEMENT_TIMEOUT if statement_timeout is None else statement_timeout
        engine = create_async_engine(url, connect_args={"timeout": busy, "factory": SqliteConnection})
        sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        connect_args={"command_timeout": statement_timeout},
    )


@contextlib.asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that reads, decides and writes: what it has read stays true until it commits.

    On SQLite the ``sqlite3`` module begins a transaction only at the first write, so the reads
    before it each see what was committed at their own moment, and another writer may commit
    between a read and the write (``FOR UPDATE`` means nothing there). This one takes the
    database's write lock as it begins (``BEGIN IMMEDIATE``): such transactions run one at a time.
    On PostgreSQL it is a plain transaction, whose reads lock the rows they decide on
    (``FOR UPDATE``, ``FOR SHARE``).
    """
    async with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn


class SqliteConnection(sqlite3.Connection):
    """A SQLite connection that ends its transaction when it closes.

    ``sqlite3``'s ``close()`` leaves a connection that still has a statement in use (a cursor
    that is still referenced) open as a "zombie" until that statement is finalized, and the
    zombie keeps its transaction, and with it the database's one write lock. A task cancelled
    during a write (a shutdown, a timeout) has its connection closed that way, with the cursor
    held by the cancelled frames until the garbage collector frees them: every other write
    waited out its busy timeout meanwhile. Rolling back first releases the lock at once.
    """

    def close(self) -> None:
        # Closing twice is allowed, as on any ``sqlite3`` connection (a pool that gave up on a
        # connection, then its driver's own shutdown): a closed one has no transaction to ask about.
        with contextlib.suppress(sqlite3.Error):
            if self.in_transaction:
                self.rollback()
        super().close()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the single writer; NORMAL is durable at each checkpoint.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the database at ``url`` to ``revision`` (blocking; run before serving).

    Processes and hosts that start at once migrate one after the other: on PostgreSQL under an
    advisory lock (taken in ``migrations/env.py``), on SQLite under a lock file beside the database.
    The others then find it migrated and change nothing.
    """
    from alembic import command

    path = _sqlite_path(url)
    if path is None:
        command.upgrade(alembic_config(url), revision)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(path.with_name(path.name + ".migrate-lock")):
        command.upgrade(alembic_config(url), revision)


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for PostgreSQL and in-memory SQLite."""
    if not is_sqlite(url):
        return None
    path = sa.engine.make_url(url).database
    return Path(path) if path and path != ":memory:" else None


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` between processes, released when it closes (or its holder dies)."""
    with open(path, "a+b") as handle:
        if sys.platform == "win32":
            import msvcrt

            while True:
                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:  # LK_LOCK gives up after 10 s: keep waiting
                    continue
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


DatabaseState = Literal["missing", "behind", "current"]


async def state(url: str) -> DatabaseState:
    """Whether the database at ``url`` is there and migrated, without creating or changing anything:
    ``missing`` (no SQLite file, or no migration applied yet), ``behind`` (migrations are pending, or
    it was migrated by another release), ``current``."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    path = _sqlite_path(url)
    if path is not None and not path.exists():
        return "missing"
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            found = await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_heads())
    finally:
        await engine.dispose()
    if not found:
        return "missing"
    heads = ScriptDirectory.from_config(alembic_config(url)).get_heads()
    return "current" if set(found) == set(heads) else "behind"


def create_sync_engine(url: str | sa.URL, *, pool_size: int = 1) -> sa.Engine:
    """A blocking engine on the same SQLite file, for work done in threads of its own (see
    store/writer.py and store/reader.py)."""
    engine = sa.create_engine(
        url,
        connect_args={"timeout": STATEMENT_TIMEOUT, "check_same_thread": False, "factory": SqliteConnection},
        pool_size=pool_size,
    )
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine
