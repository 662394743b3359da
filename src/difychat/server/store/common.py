"""Small helpers shared by the repositories."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from typing import Any, TypeAlias

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

# A result row of any width (SQLAlchemy rows are typed by their columns).
Record: TypeAlias = sa.Row[*tuple[Any, ...]]


def utcnow() -> datetime:
    """Naive UTC, the form every timestamp column holds."""
    return datetime.now(UTC).replace(tzinfo=None)


# Random bytes for ids, read from the OS a block at a time: one system call per 256 ids rather
# than one each (a call that gives up the GIL is slow while other threads want it).
_ID_BLOCK = 4096
_random = bytearray()
_random_lock = threading.Lock()


def _forget_random() -> None:
    # A forked child must never hand out ids its parent has handed out.
    _random.clear()


os.register_at_fork(after_in_child=_forget_random)


def new_id() -> str:
    """A random (version 4) UUID, as text."""
    with _random_lock:
        if len(_random) < 16:
            _random[:] = os.urandom(_ID_BLOCK)
        raw = _random[-16:]
        del _random[-16:]
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # the RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def ignoring_conflicts(dialect: str, table: sa.Table) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING into ``table``, in ``dialect`` (rows given when executed)."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(dialect)  # pragma: no cover


def insert_ignoring_conflicts(
    conn: AsyncConnection, table: sa.Table, values: dict[str, Any] | list[dict[str, Any]]
) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING, in the dialect of ``conn``; one row, or several."""
    return ignoring_conflicts(conn.dialect.name, table).values(values)
