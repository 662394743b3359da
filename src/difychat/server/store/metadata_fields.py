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

from difychat.server.domain.knowledge import DocumentRecord, MetadataField, MetadataValue, TagRecord
from difychat.server.store.common import Record
from difychat.server.store.documents import document_of
from difychat.server.store.schema import (
    dataset_metadata_bindings,
    dataset_metadata_fields,
    datasets,
    documents,
    knowledge_tag_bindings,
    knowledge_tags,
)

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


async def field(
    conn: AsyncConnection, dataset_id: str, metadata_id: str, *, lock: bool = False
) -> MetadataField | None:
    """The field; ``lock``: locked until the transaction ends (a rename or a delete)."""
    query = sa.select(dataset_metadata_fields).where(
        _fields.id == metadata_id, _fields.dataset_id == dataset_id
    )
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return None if row is None else field_of(row)


async def by_ids(
    conn: AsyncConnection, dataset_id: str, ids: Iterable[str], *, share: bool = False
) -> dict[str, MetadataField]:
    """The dataset's fields among ``ids``; ``share``: locked against a rename or a delete until the
    transaction ends (values being set under a field's name), in id order."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    query = (
        sa.select(dataset_metadata_fields)
        .where(_fields.dataset_id == dataset_id, _fields.id.in_(wanted))
        .order_by(_fields.id)
    )
    if share:
        query = query.with_for_update(read=True)
    return {str(row.id): field_of(row) for row in await conn.execute(query)}


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


async def documents_for_update(
    conn: AsyncConnection, dataset_id: str, document_ids: Sequence[str]
) -> list[DocumentRecord]:
    """The dataset's documents among ``document_ids``, locked until the transaction ends (a
    concurrent change of their values waits instead of being lost)."""
    if not document_ids:
        return []
    rows = await conn.execute(
        sa.select(documents)
        .where(documents.c.dataset_id == dataset_id, documents.c.id.in_(list(document_ids)))
        .order_by(documents.c.id)
        .with_for_update()
    )
    return [document_of(row) for row in rows]


async def set_doc_metadata(conn: AsyncConnection, document_id: str, values: dict[str, Any] | None) -> None:
    await conn.execute(documents.update().where(documents.c.id == document_id).values(doc_metadata=values))


_SET_DOC_METADATA = (
    documents.update()
    .where(documents.c.id == sa.bindparam("w_id"))
    .values(doc_metadata=sa.bindparam("w_doc_metadata"))
)


async def set_docs_metadata(conn: AsyncConnection, changes: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Several documents' ``doc_metadata`` in one statement (executed once per row by the driver)."""
    if changes:
        await conn.execute(_SET_DOC_METADATA, [{"w_id": i, "w_doc_metadata": v} for i, v in changes])


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


async def document_values(
    conn: AsyncConnection, records: Sequence[DocumentRecord]
) -> dict[str, tuple[bool, list[MetadataValue]]]:
    """Per document: whether its dataset shows the built-in fields, and the fields it carries
    (oldest first) with the values its ``doc_metadata`` holds under their names. One query."""
    if not records:
        return {}
    d = documents.c
    rows = await conn.execute(
        sa.select(
            d.id, datasets.c.built_in_field_enabled, _fields.id.label("field_id"), _fields.name, _fields.type
        )
        .select_from(
            documents.join(datasets, datasets.c.id == d.dataset_id)
            .outerjoin(dataset_metadata_bindings, _bindings.document_id == d.id)
            .outerjoin(dataset_metadata_fields, _fields.id == _bindings.metadata_id)
        )
        .where(d.id.in_([r.id for r in records]))
        .order_by(d.id, _fields.created_at, _fields.id)
    )
    stored = {r.id: r.doc_metadata if isinstance(r.doc_metadata, dict) else {} for r in records}
    found: dict[str, tuple[bool, list[MetadataValue]]] = {}
    for row in rows:
        document_id = str(row.id)
        _, values = found.setdefault(document_id, (bool(row.built_in_field_enabled), []))
        if row.field_id is not None:
            value = stored.get(document_id, {}).get(row.name)
            values.append(MetadataValue(str(row.field_id), row.name, row.type, value))
    return found


async def labels(
    conn: AsyncConnection, dataset_ids: Sequence[str]
) -> tuple[dict[str, list[TagRecord]], dict[str, list[MetadataField]]]:
    """Each dataset's tags (newest first) and metadata fields (oldest first, with how many
    documents carry each), read in one query."""
    if not dataset_ids:
        return {}, {}
    ids = list(dataset_ids)
    tag_rows = (
        sa.select(
            sa.literal("tag").label("kind"),
            knowledge_tag_bindings.c.dataset_id,
            knowledge_tags.c.id,
            knowledge_tags.c.name,
            sa.cast(sa.null(), sa.String()).label("type"),
            sa.cast(sa.literal(0), sa.BigInteger()).label("n"),
            knowledge_tags.c.created_at,
        )
        .join(knowledge_tags, knowledge_tags.c.id == knowledge_tag_bindings.c.tag_id)
        .where(knowledge_tag_bindings.c.dataset_id.in_(ids))
    )
    used = (
        sa.select(sa.func.count())
        .where(_bindings.metadata_id == _fields.id)
        .correlate(dataset_metadata_fields)
        .scalar_subquery()
    )
    field_rows = sa.select(
        sa.literal("field"),
        _fields.dataset_id,
        _fields.id,
        _fields.name,
        _fields.type,
        sa.cast(used, sa.BigInteger()),
        _fields.created_at,
    ).where(_fields.dataset_id.in_(ids))
    tagged: dict[str, list[tuple[Any, str, TagRecord]]] = {}
    fields: dict[str, list[tuple[Any, str, MetadataField]]] = {}
    for row in await conn.execute(sa.union_all(tag_rows, field_rows)):
        dataset_id, item_id = str(row.dataset_id), str(row.id)
        if row.kind == "tag":
            tagged.setdefault(dataset_id, []).append((row.created_at, item_id, TagRecord(item_id, row.name)))
        else:
            field = MetadataField(item_id, dataset_id, row.type, row.name, int(row.n))
            fields.setdefault(dataset_id, []).append((row.created_at, item_id, field))
    return (
        {k: [t for *_, t in sorted(v, key=lambda e: (e[0], e[1]), reverse=True)] for k, v in tagged.items()},
        {k: [f for *_, f in sorted(v, key=lambda e: (e[0], e[1]))] for k, v in fields.items()},
    )
