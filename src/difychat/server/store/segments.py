"""Segments (chunks) of documents."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.domain.knowledge import SegmentRecord
from difychat.server.store.common import Record
from difychat.server.store.schema import document_segments, documents

# Rows written per statement: keeps a statement under SQLite's bound-parameter limit.
INSERT_BATCH = 200


def segment_of(row: Record) -> SegmentRecord:
    def opt(value: Any) -> str | None:
        return None if value is None else str(value)

    return SegmentRecord(
        id=str(row.id),
        dataset_id=str(row.dataset_id),
        document_id=str(row.document_id),
        position=int(row.position),
        content=row.content,
        answer=row.answer,
        keywords=list(row.keywords or []),
        word_count=int(row.word_count),
        tokens=int(row.tokens),
        index_node_id=row.index_node_id,
        index_node_hash=row.index_node_hash,
        hit_count=int(row.hit_count),
        enabled=bool(row.enabled),
        disabled_at=row.disabled_at,
        disabled_by=opt(row.disabled_by),
        status=row.status,
        created_by=str(row.created_by),
        created_at=row.created_at,
        updated_at=row.updated_at,
        updated_by=opt(row.updated_by),
        indexing_at=row.indexing_at,
        completed_at=row.completed_at,
        error=row.error,
        stopped_at=row.stopped_at,
    )


async def insert_segments(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    for start in range(0, len(rows), INSERT_BATCH):
        await conn.execute(document_segments.insert(), list(rows[start : start + INSERT_BATCH]))


async def segment(conn: AsyncConnection, document_id: str, segment_id: str) -> SegmentRecord | None:
    row = (
        await conn.execute(
            sa.select(document_segments).where(
                document_segments.c.id == segment_id, document_segments.c.document_id == document_id
            )
        )
    ).first()
    return None if row is None else segment_of(row)


async def by_ids(conn: AsyncConnection, ids: Sequence[str], *, lock: bool = False) -> list[SegmentRecord]:
    """The segments, in position order; ``lock``: locked until the transaction ends."""
    if not ids:
        return []
    query = (
        sa.select(document_segments)
        .where(document_segments.c.id.in_(list(ids)))
        .order_by(document_segments.c.position)
    )
    if lock:
        query = query.with_for_update()
    return [segment_of(row) for row in await conn.execute(query)]


async def list_segments(
    conn: AsyncConnection,
    document_id: str,
    *,
    statuses: Sequence[str],
    keyword: str | None,
    page: int,
    limit: int,
) -> tuple[list[SegmentRecord], int]:
    s = document_segments.c
    query = sa.select(document_segments).where(s.document_id == document_id)
    if statuses:
        query = query.where(s.status.in_(list(statuses)))
    if keyword:
        escaped = keyword.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").lower()
        query = query.where(sa.func.lower(s.content).like(f"%{escaped}%", escape="\\"))
    total = int((await conn.execute(sa.select(sa.func.count()).select_from(query.subquery()))).scalar_one())
    rows = await conn.execute(query.order_by(s.position, s.id).limit(limit).offset((page - 1) * limit))
    return [segment_of(row) for row in rows], total


async def delete_of_document(conn: AsyncConnection, document_id: str) -> list[str]:
    """Delete the document's segments: the ids of exactly those deleted."""
    rows = await conn.execute(
        document_segments.delete()
        .where(document_segments.c.document_id == document_id)
        .returning(document_segments.c.id)
    )
    return [str(r.id) for r in rows]


async def ids_of_document(conn: AsyncConnection, document_id: str) -> list[str]:
    rows = await conn.execute(
        sa.select(document_segments.c.id).where(document_segments.c.document_id == document_id)
    )
    return [str(r.id) for r in rows]


async def max_position(conn: AsyncConnection, document_id: str) -> int:
    found = (
        await conn.execute(
            sa.select(sa.func.max(document_segments.c.position)).where(
                document_segments.c.document_id == document_id
            )
        )
    ).scalar_one_or_none()
    return int(found or 0)


async def update_segment(conn: AsyncConnection, segment_id: str, **values: Any) -> None:
    await conn.execute(
        document_segments.update().where(document_segments.c.id == segment_id).values(**values)
    )


async def undo_segment_edit(
    conn: AsyncConnection, segment_id: str, edited_at: datetime, **values: Any
) -> None:
    """Set ``values`` back, unless the segment was changed again after the edit made at ``edited_at``."""
    await conn.execute(
        document_segments.update()
        .where(document_segments.c.id == segment_id, document_segments.c.updated_at == edited_at)
        .values(**values)
    )


async def mark_completed(conn: AsyncConnection, ids: Sequence[str], now: datetime) -> None:
    if ids:
        await conn.execute(
            document_segments.update()
            .where(document_segments.c.id.in_(list(ids)))
            .values(status="completed", completed_at=now, updated_at=now)
        )


async def delete_segments(conn: AsyncConnection, ids: Sequence[str]) -> None:
    for start in range(0, len(ids), INSERT_BATCH):
        chunk = list(ids[start : start + INSERT_BATCH])
        await conn.execute(document_segments.delete().where(document_segments.c.id.in_(chunk)))


async def recount_document(conn: AsyncConnection, document_id: str) -> None:
    """Set the document's character and token totals to its segments' sums, in one statement (a
    count read, then written, could overwrite a later count with an older one)."""
    seg = document_segments.c

    def total(column: sa.ColumnElement[Any]) -> sa.ScalarSelect[Any]:
        return (
            sa.select(sa.func.coalesce(sa.func.sum(column), 0))
            .where(seg.document_id == document_id)
            .scalar_subquery()
        )

    await conn.execute(
        documents.update()
        .where(documents.c.id == document_id)
        .values(word_count=total(seg.word_count), tokens=total(seg.tokens))
    )
