"""Keyset pages: walk an index on (timestamp, id) from a cursor row, one row more than the page.

Fetching ``limit + 1`` rows tells whether more lie beyond the page without counting them. The few
lists the contract pages by number (offset paging) take their offset from ``page_offset``. A page
reads its ids and JSON through ``page_id`` and ``page_json``, the cheap way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.domain.paging import Page
from difychat.server.store.common import Record

Item = TypeVar("Item")


# More rows than any table holds: an offset past it reads as this one, so that a page number and a
# page size, each within 64 bits, never make an offset the database's integers cannot hold.
MAX_OFFSET = 2**62


def page_offset(page: int, size: int) -> int:
    """The rows before page ``page`` (counted from 1) of ``size`` rows each, at most ``MAX_OFFSET``."""
    return min((page - 1) * size, MAX_OFFSET)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a walk resumes: the sort value and id of the last row already seen."""

    value: datetime
    id: str


def past(
    cursor: Cursor, column: sa.ColumnElement[Any], id_column: sa.ColumnElement[Any], *, descending: bool
) -> sa.ColumnElement[bool]:
    """Rows strictly past the cursor in (column, id) order, walking down or up."""
    key = sa.tuple_(column, id_column)
    bound = sa.tuple_(sa.literal(cursor.value), sa.literal(cursor.id, id_column.type))
    return key < bound if descending else key > bound


class _PageId(sa.Uuid[str]):
    """An id as a page reads it. Where the database keeps UUIDs as 32 hex digits (SQLite), the
    dashes go in directly, a tenth of the cost of a round trip through ``uuid.UUID``; a native
    UUID column reads as ``sa.Uuid`` reads it."""

    cache_ok = True

    def __init__(self) -> None:
        super().__init__(as_uuid=False)

    def result_processor(self, dialect: sa.Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.supports_native_uuid and self.native_uuid:
            native: Callable[[Any], Any] | None = super().result_processor(dialect, coltype)  # type: ignore[no-untyped-call]
            return native
        return _dashed


def _dashed(value: str | None) -> str | None:
    """32 hex digits as the canonical form ``str(UUID(...))`` gives; anything else through it."""
    if value is None:
        return None
    if len(value) != 32:
        return str(UUID(value))
    v = value.lower()
    return f"{v[:8]}-{v[8:12]}-{v[12:16]}-{v[16:20]}-{v[20:]}"


def page_id(column: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """``column`` (a ``sa.Uuid(as_uuid=False)`` id) to select in a page: the same string, read cheaply."""
    return sa.type_coerce(column, _PageId())


class _PageJson(sa.Text):
    """A JSON column as a page reads it: where the database hands over text (SQLite), the most
    common documents (``{}``, ``[]``, ``null``) without the decoder, the rest with ``json.loads``
    as ``sa.JSON`` reads them; a value the driver has already decoded (asyncpg) is kept."""

    cache_ok = True

    def result_processor(self, dialect: sa.Dialect, coltype: object) -> Callable[[Any], Any] | None:
        return _json


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if value == "{}":
        return {}
    if value == "null":
        return None
    if value == "[]":
        return []
    return json.loads(value)


def page_json(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """``column`` (an ``sa.JSON``) to select in a page: the same value, decoded cheaply."""
    return sa.type_coerce(column, _PageJson())


async def keyset_page(
    conn: AsyncConnection, query: sa.Select[Any], limit: int, build: Callable[[Record], Item]
) -> Page[Item]:
    """Up to ``limit`` rows of the ordered ``query`` as a page, and whether more follow."""
    rows = list(await conn.execute(query.limit(limit + 1)))
    return Page([build(row) for row in rows[:limit]], len(rows) > limit, limit)
