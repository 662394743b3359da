"""Datasets' metadata fields and the documents that carry them.

A document's values are its ``doc_metadata`` object, keyed by field name; a binding row says the
document carries the field. Renaming or deleting a field rewrites the objects of the documents
bound to it in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.domain.knowledge import MetadataField, MetadataValue
from difychat.server.store.common import Record
from difychat.server.store.schema import dataset_metadata_bindings, dataset_metadata_fields, documents

_fields = dataset_metadata_fields.c
_bindings = dataset_metadata_bindings.c


def field_of(row: Record, count: int = 0) -> MetadataField:
    return MetadataField(str(row.id), str(row.dataset_id), row.type, row.name, count)


async def fields(conn: AsyncConnection, dataset_ids: Sequence[str]) -> dict[str, list[MetadataField]]:
    """Each dataset's fields, oldest first, with how many documents carry each."""
    if not dataset_ids:
        return {}
    counted = (
        sa.select(_bindings.metadata_id, sa.func.count().label("n"))
        .join(dataset_metadata_fields, _fields.id == _bindings.metadata_id)
        .where(_fields.dataset_id.in_(list(dataset_ids)))
        .group_by(_bindings.metadata_id)
        .subquery()
    )
    rows = await conn.execute(
        sa.select(dataset_metadata_fields, sa.func.coalesce(counted.c.n, 0).label("n"))
        .select_from(dataset_metadata_fields.outerjoin(counted, counted.c.metadata_id == _fields.id))
        .where(_fields.dataset_id.in_(list(dataset_ids)))
        .order_by(_fields.created_at, _fields.id)
    )
    found: dict[str, list[MetadataField]] = {}
    for row in rows:
        found.setdefault(str(row.dataset_id), []).append(field_of(row, int(row.n)))
    return found


async def field(conn: AsyncConnection, dataset_id: str, metadata_id: str) -> MetadataField | None:
    row = (
        await conn.execute(
            sa.select(dataset_metadata_fields).where(
                _fields.id == metadata_id, _fields.dataset_id == dataset_id
            )
        )
    ).first()
    return None if row is None else field_of(row)


async def by_ids(conn: AsyncConnection, dataset_id: str, ids: Iterable[str]) -> dict[str, MetadataField]:
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    rows = await conn.execute(
        sa.select(dataset_metadata_fields).where(_fields.dataset_id == dataset_id, _fields.id.in_(wanted))
    )
    return {str(row.id): field_of(row) for row in rows}


async def name_taken(
    conn: AsyncConnection, dataset_id: str, name: str, *, other_than: str | None = None
) -> bool:
    query = sa.select(_fields.id).where(_fields.dataset_id == dataset_id, _fields.name == name)
    if other_than is not None:
        query = query.where(_fields.id != other_than)
    return (await conn.execute(query.limit(1))).first() is not None


async def insert_field(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(dataset_metadata_fields.insert().values(**values))


async def bound_documents(conn: AsyncConnection, metadata_id: str) -> list[tuple[str, Any]]:
    """(id, ``doc_metadata``) of the documents carrying the field, locked where the database can."""
    rows = await conn.execute(
        sa.select(documents.c.id, documents.c.doc_metadata)
        .where(
            documents.c.id.in_(sa.select(_bindings.document_id).where(_bindings.metadata_id == metadata_id))
        )
        .order_by(documents.c.id)
        .with_for_update()
    )
    return [(str(r.id), r.doc_metadata) for r in rows]


async def set_doc_metadata(conn: AsyncConnection, document_id: str, values: dict[str, Any] | None) -> None:
    await conn.execute(documents.update().where(documents.c.id == document_id).values(doc_metadata=values))


async def rename_field(
    conn: AsyncConnection, metadata_id: str, name: str, *, updated_by: str, updated_at: datetime
) -> None:
    await conn.execute(
        dataset_metadata_fields.update()
        .where(_fields.id == metadata_id)
        .values(name=name, updated_by=updated_by, updated_at=updated_at)
    )


async def delete_field(conn: AsyncConnection, metadata_id: str) -> None:
    await conn.execute(dataset_metadata_bindings.delete().where(_bindings.metadata_id == metadata_id))
    await conn.execute(dataset_metadata_fields.delete().where(_fields.id == metadata_id))


async def bound_ids(conn: AsyncConnection, document_id: str) -> set[str]:
    rows = await conn.execute(sa.select(_bindings.metadata_id).where(_bindings.document_id == document_id))
    return {str(r.metadata_id) for r in rows}


async def unbind_all(conn: AsyncConnection, document_id: str) -> None:
    await conn.execute(dataset_metadata_bindings.delete().where(_bindings.document_id == document_id))


async def bind(
    conn: AsyncConnection,
    document_id: str,
    metadata_ids: Sequence[str],
    *,
    created_by: str,
    created_at: datetime,
) -> None:
    if metadata_ids:
        await conn.execute(
            dataset_metadata_bindings.insert(),
            [
                {
                    "metadata_id": m,
                    "document_id": document_id,
                    "created_by": created_by,
                    "created_at": created_at,
                }
                for m in metadata_ids
            ],
        )


async def values_of(conn: AsyncConnection, document_ids: Sequence[str]) -> dict[str, list[MetadataValue]]:
    """The fields each document carries (oldest field first), with the values its ``doc_metadata``
    holds under their names."""
    if not document_ids:
        return {}
    rows = await conn.execute(
        sa.select(_bindings.document_id, _fields.id, _fields.name, _fields.type, documents.c.doc_metadata)
        .join(dataset_metadata_fields, _fields.id == _bindings.metadata_id)
        .join(documents, documents.c.id == _bindings.document_id)
        .where(_bindings.document_id.in_(list(document_ids)))
        .order_by(_bindings.document_id, _fields.created_at, _fields.id)
    )
    found: dict[str, list[MetadataValue]] = {}
    for r in rows:
        stored = r.doc_metadata if isinstance(r.doc_metadata, dict) else {}
        found.setdefault(str(r.document_id), []).append(
            MetadataValue(str(r.id), r.name, r.type, stored.get(r.name))
        )
    return found
