"""Documents of datasets, and the totals their wire shapes show."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.domain.knowledge import COMPLETED, ERROR, WAITING, DocumentRecord
from difychat.server.store.common import Record
from difychat.server.store.schema import document_segments, documents

_RUNNING = ("parsing", "cleaning", "splitting", "indexing")


def document_of(row: Record) -> DocumentRecord:
    def opt(value: Any) -> str | None:
        return None if value is None else str(value)

    return DocumentRecord(
        id=str(row.id),
        dataset_id=str(row.dataset_id),
        position=int(row.position),
        data_source_type=row.data_source_type,
        file_id=opt(row.file_id),
        process_rule_id=opt(row.process_rule_id),
        batch=row.batch,
        name=row.name,
        created_from=row.created_from,
        created_by=str(row.created_by),
        tokens=row.tokens,
        word_count=row.word_count,
        indexing_status=row.indexing_status,
        processing_started_at=row.processing_started_at,
        parsing_completed_at=row.parsing_completed_at,
        cleaning_completed_at=row.cleaning_completed_at,
        splitting_completed_at=row.splitting_completed_at,
        completed_at=row.completed_at,
        indexing_latency=row.indexing_latency,
        error=row.error,
        stopped_at=row.stopped_at,
        paused_at=row.paused_at,
        enabled=bool(row.enabled),
        disabled_at=row.disabled_at,
        disabled_by=opt(row.disabled_by),
        archived=bool(row.archived),
        doc_type=row.doc_type,
        doc_metadata=row.doc_metadata,
        doc_form=row.doc_form,
        doc_language=row.doc_language,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def display_filter(status: str) -> sa.ColumnElement[bool] | None:
    """The rows a display status (``GET …/documents?status=``) stands for; None for an unknown one."""
    c = documents.c
    done = c.indexing_status == COMPLETED
    match status:
        case "queuing":
            return c.indexing_status == WAITING
        case "indexing":
            return sa.and_(c.indexing_status.in_(_RUNNING), c.paused_at.is_(None))
        case "paused":
            return sa.and_(c.indexing_status.in_(_RUNNING), c.paused_at.is_not(None))
        case "error":
            return c.indexing_status == ERROR
        case "available" | "active" | "enabled":
            return sa.and_(done, c.enabled.is_(True), c.archived.is_(False))
        case "disabled":
            return sa.and_(done, c.enabled.is_(False), c.archived.is_(False))
        case "archived":
            return sa.and_(done, c.archived.is_(True))
    return None


async def insert_document(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(documents.insert().values(**values))


async def hold(conn: AsyncConnection, document_id: str) -> bool:
    """Whether the document is there, locked until the transaction ends (PostgreSQL; on SQLite
    the transaction is a ``db.write_transaction``): its segments are added, or it is deleted, by
    one transaction at a time."""
    query = sa.select(documents.c.id).where(documents.c.id == document_id).with_for_update()
    return (await conn.execute(query)).first() is not None


async def document(conn: AsyncConnection, dataset_id: str, document_id: str) -> DocumentRecord | None:
    row = (
        await conn.execute(
            sa.select(documents).where(documents.c.id == document_id, documents.c.dataset_id == dataset_id)
        )
    ).first()
    return None if row is None else document_of(row)


async def document_by_id(conn: AsyncConnection, document_id: str) -> DocumentRecord | None:
    row = (await conn.execute(sa.select(documents).where(documents.c.id == document_id))).first()
    return None if row is None else document_of(row)


async def reusable_by_name(conn: AsyncConnection, dataset_id: str, name: str) -> DocumentRecord | None:
    """An enabled uploaded document of that name: a new upload of the same name re-indexes it."""
    row = (
        await conn.execute(
            sa.select(documents)
            .where(
                documents.c.dataset_id == dataset_id,
                documents.c.name == name,
                documents.c.data_source_type == "upload_file",
                documents.c.enabled.is_(True),
            )
            .order_by(documents.c.created_at.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else document_of(row)


async def next_position(conn: AsyncConnection, dataset_id: str) -> int:
    found = (
        await conn.execute(
            sa.select(sa.func.max(documents.c.position)).where(documents.c.dataset_id == dataset_id)
        )
    ).scalar_one_or_none()
    return int(found or 0) + 1


async def list_documents(
    conn: AsyncConnection,
    dataset_id: str,
    *,
    keyword: str | None,
    status: sa.ColumnElement[bool] | None,
    page: int,
    limit: int,
) -> tuple[list[DocumentRecord], int]:
    query = sa.select(documents).where(documents.c.dataset_id == dataset_id)
    if keyword:
        escaped = keyword.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(documents.c.name.like(f"%{escaped}%", escape="\\"))
    if status is not None:
        query = query.where(status)
    total = int((await conn.execute(sa.select(sa.func.count()).select_from(query.subquery()))).scalar_one())
    rows = await conn.execute(
        query.order_by(documents.c.created_at.desc(), documents.c.position.desc())
        .limit(limit)
        .offset((page - 1) * limit)
    )
    return [document_of(row) for row in rows], total


async def by_batch(conn: AsyncConnection, dataset_id: str, batch: str) -> list[DocumentRecord]:
    rows = await conn.execute(
        sa.select(documents)
        .where(documents.c.dataset_id == dataset_id, documents.c.batch == batch)
        .order_by(documents.c.position)
    )
    return [document_of(row) for row in rows]


async def by_ids(conn: AsyncConnection, dataset_id: str, ids: Sequence[str]) -> list[DocumentRecord]:
    if not ids:
        return []
    rows = await conn.execute(
        sa.select(documents).where(documents.c.dataset_id == dataset_id, documents.c.id.in_(list(ids)))
    )
    return [document_of(row) for row in rows]


async def update_document(conn: AsyncConnection, document_id: str, **values: Any) -> None:
    await conn.execute(documents.update().where(documents.c.id == document_id).values(**values))


async def update_documents(conn: AsyncConnection, ids: Sequence[str], **values: Any) -> None:
    if ids:
        await conn.execute(documents.update().where(documents.c.id.in_(list(ids))).values(**values))


async def delete_document(conn: AsyncConnection, document_id: str) -> None:
    await conn.execute(documents.delete().where(documents.c.id == document_id))


async def file_ids(conn: AsyncConnection, dataset_id: str) -> list[str]:
    rows = await conn.execute(
        sa.select(documents.c.file_id).where(
            documents.c.dataset_id == dataset_id, documents.c.file_id.is_not(None)
        )
    )
    return [str(r.file_id) for r in rows]


async def segment_totals(
    conn: AsyncConnection, document_ids: Sequence[str]
) -> dict[str, tuple[int, int, int, int]]:
    """Per document: (segment count, hit count, total characters, completed segments), counting
    the segments not being re-segmented."""
    if not document_ids:
        return {}
    s = document_segments.c
    rows = await conn.execute(
        sa.select(
            s.document_id,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(s.hit_count), 0),
            sa.func.coalesce(sa.func.sum(s.word_count), 0),
            sa.func.sum(sa.case((s.completed_at.is_not(None), 1), else_=0)),
        )
        .where(s.document_id.in_(list(document_ids)), s.status != "re_segment")
        .group_by(s.document_id)
    )
    return {str(r[0]): (int(r[1]), int(r[2]), int(r[3]), int(r[4] or 0)) for r in rows}
