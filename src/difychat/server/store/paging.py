"""Keyset pages: walk an index on (timestamp, id) from a cursor row, one row more than the page.

Fetching ``limit + 1`` rows tells whether more lie beyond the page without counting them. The few
lists the contract pages by number (offset paging) take their offset from ``page_offset``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

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


async def keyset_page(
    conn: AsyncConnection, query: sa.Select[Any], limit: int, build: Callable[[Record], Item]
) -> Page[Item]:
    """Up to ``limit`` rows of the ordered ``query`` as a page, and whether more follow."""
    rows = list(await conn.execute(query.limit(limit + 1)))
    return Page([build(row) for row in rows[:limit]], len(rows) > limit, limit)
