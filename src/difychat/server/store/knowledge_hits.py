"""What a search may return, and what it shows of each segment found.

A segment is found only while it and its document are enabled, its document is not archived,
and the document's indexing is ``completed`` (knowledge contract §6, §7): the index keeps
entries through those switches, and searches ask here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.domain.knowledge import SegmentRecord
from difychat.server.store.schema import datasets, document_segments, documents
from difychat.server.store.segments import segment_of

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class FoundSegment:
    segment: SegmentRecord
    dataset_name: str
    document_name: str
    data_source_type: str
    doc_type: str | None
    doc_metadata: Any


def _segments() -> sa.CTE:
    """The enabled, completed segments among ``:segment_ids``, read by their key first
    (materialised: a planner whose statistics lag a bulk load would otherwise walk every
    document's segments)."""
    return (
        sa.select(document_segments)
        .where(
            document_segments.c.id.in_(sa.bindparam("segment_ids", expanding=True)),
            document_segments.c.enabled.is_(True),
            document_segments.c.status == "completed",
        )
        .cte("found_segments")
        .prefix_with("MATERIALIZED")
    )


def _document_available() -> sa.ColumnElement[bool]:
    return sa.and_(
        documents.c.enabled.is_(True),
        documents.c.archived.is_(False),
        documents.c.indexing_status == "completed",
    )


def _visible_statement() -> sa.Select[tuple[Any]]:
    segments = _segments()
    return (
        sa.select(segments.c.id)
        .join(documents, documents.c.id == segments.c.document_id)
        .where(_document_available())
    )


def _found_statement() -> sa.Select[Any]:
    segments = _segments()
    return (
        sa.select(
            segments,
            documents.c.name.label("document_name"),
            documents.c.data_source_type.label("document_source"),
            documents.c.doc_type.label("document_doc_type"),
            documents.c.doc_metadata.label("document_metadata"),
            datasets.c.name.label("dataset_name"),
        )
        .join(documents, documents.c.id == segments.c.document_id)
        .join(datasets, datasets.c.id == segments.c.dataset_id)
        .where(_document_available())
    )


# Built once: each search only binds its ids (building the statement cost more than running it).
_VISIBLE = _visible_statement()
_FOUND = _found_statement()


async def visible(conn: AsyncConnection, segment_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(segment_ids), _CHUNK):
        rows = await conn.scalars(_VISIBLE, {"segment_ids": list(segment_ids[start : start + _CHUNK])})
        found.update(str(r) for r in rows)
    return found


async def texts(conn: AsyncConnection, segment_ids: Sequence[str]) -> dict[str, str]:
    """The text a reranker reads: the content, and a Q&A segment's answer after it."""
    out: dict[str, str] = {}
    for start in range(0, len(segment_ids), _CHUNK):
        rows = await conn.execute(
            sa.select(document_segments.c.id, document_segments.c.content, document_segments.c.answer).where(
                document_segments.c.id.in_(list(segment_ids[start : start + _CHUNK]))
            )
        )
        for row in rows:
            out[str(row.id)] = row.content if not row.answer else f"{row.content}\n{row.answer}"
    return out


def text_of(segment: SegmentRecord) -> str:
    """What a reranker reads of a segment (as ``texts`` gives it)."""
    return segment.content if not segment.answer else f"{segment.content}\n{segment.answer}"


async def found(conn: AsyncConnection, segment_ids: Sequence[str]) -> dict[str, FoundSegment]:
    """The segments (still available) with their document and dataset names."""
    out: dict[str, FoundSegment] = {}
    for start in range(0, len(segment_ids), _CHUNK):
        rows = await conn.execute(_FOUND, {"segment_ids": list(segment_ids[start : start + _CHUNK])})
        for row in rows:
            out[str(row.id)] = FoundSegment(
                segment=segment_of(row),
                dataset_name=row.dataset_name,
                document_name=row.document_name,
                data_source_type=row.document_source,
                doc_type=row.document_doc_type,
                doc_metadata=row.document_metadata,
            )
    return out


async def count_hits(conn: AsyncConnection, segment_ids: Sequence[str], *, by: int = 1) -> None:
    """Each of these segments was returned by ``by`` more searches."""
    ids = sorted(set(segment_ids))
    if ids:
        await conn.execute(
            sa.update(document_segments)
            .where(document_segments.c.id.in_(ids))
            .values(hit_count=document_segments.c.hit_count + by)
        )
