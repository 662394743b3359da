"""Keyset pages: walk an index on (timestamp, id) from a cursor row, one row more than the page.

Fetching ``limit + 1`` rows tells whether more lie beyond the page without counting them.
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
