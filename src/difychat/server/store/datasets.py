"""Datasets, their process rules and the files their documents are read from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.domain.knowledge import (
    COMPLETED,
    DatasetFileRecord,
    DatasetRecord,
    DatasetView,
    ProcessRuleRecord,
)
from difychat.server.store import metadata_fields, tags
from difychat.server.store.common import Record
from difychat.server.store.schema import (
    dataset_files,
    dataset_metadata_fields,
    dataset_process_rules,
    datasets,
    documents,
    indexing_jobs,
)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def dataset_of(row: Record) -> DatasetRecord:
    return DatasetRecord(
        id=str(row.id),
        name=row.name,
        description=row.description,
        provider=row.provider,
        permission=row.permission,
        data_source_type=row.data_source_type,
        indexing_technique=row.indexing_technique,
        embedding_model=row.embedding_model,
        embedding_model_provider=row.embedding_model_provider,
        retrieval_model=row.retrieval_model,
        summary_index_setting=row.summary_index_setting,
        doc_form=row.doc_form,
        enable_api=bool(row.enable_api),
        partial_member_list=list(row.partial_member_list or []),
        external_knowledge_id=row.external_knowledge_id,
        external_knowledge_api_id=row.external_knowledge_api_id,
        external_retrieval_model=row.external_retrieval_model,
        created_by=str(row.created_by),
        created_at=row.created_at,
        updated_by=_str(row.updated_by),
        updated_at=row.updated_at,
        built_in_field_enabled=bool(row.built_in_field_enabled),
    )


def file_of(row: Record) -> DatasetFileRecord:
    return DatasetFileRecord(
        id=str(row.id),
        dataset_id=str(row.dataset_id),
        name=row.name,
        size=int(row.size),
        extension=row.extension,
        mime_type=row.mime_type,
        storage_key=row.storage_key,
        hash=row.hash,
        created_by=str(row.created_by),
        created_at=row.created_at,
    )


def rule_of(row: Record) -> ProcessRuleRecord:
    return ProcessRuleRecord(str(row.id), str(row.dataset_id), row.mode, row.rules, row.created_at)


async def insert_dataset(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(datasets.insert().values(**values))


async def dataset(conn: AsyncConnection, dataset_id: str) -> DatasetRecord | None:
    row = (await conn.execute(sa.select(datasets).where(datasets.c.id == dataset_id))).first()
    return None if row is None else dataset_of(row)


async def dataset_for_update(conn: AsyncConnection, dataset_id: str) -> DatasetRecord | None:
    """The dataset, locked until the transaction ends against another such lock (on PostgreSQL;
    on SQLite the transaction must be a ``db.write_transaction``, whose lock is the whole
    database's). ``FOR NO KEY UPDATE``: rows that refer to the dataset may still be written
    meanwhile (their foreign-key checks would otherwise wait on it, and an indexing worker
    writing segments while it holds its job would deadlock with a submission)."""
    row = (
        await conn.execute(
            sa.select(datasets).where(datasets.c.id == dataset_id).with_for_update(key_share=True)
        )
    ).first()
    return None if row is None else dataset_of(row)


async def dataset_by_name(conn: AsyncConnection, name: str, *, hold: bool = False) -> DatasetRecord | None:
    """``hold``: keep the dataset from being deleted until the transaction ends (PostgreSQL's
    ``FOR KEY SHARE``; a SQLite ``db.write_transaction`` holds every row)."""
    query = sa.select(datasets).where(datasets.c.name == name)
    if hold:
        query = query.with_for_update(read=True, key_share=True)
    row = (await conn.execute(query)).first()
    return None if row is None else dataset_of(row)


async def name_taken(conn: AsyncConnection, name: str, *, other_than: str | None = None) -> bool:
    query = sa.select(datasets.c.id).where(datasets.c.name == name)
    if other_than is not None:
        query = query.where(datasets.c.id != other_than)
    return (await conn.execute(query.limit(1))).first() is not None


def _scoped(query: sa.Select[Any], scope: frozenset[str] | None) -> sa.Select[Any]:
    return query if scope is None else query.where(datasets.c.id.in_(sorted(scope)))


def _like(column: sa.ColumnElement[Any], keyword: str) -> sa.ColumnElement[bool]:
    escaped = keyword.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.func.lower(column).like(f"%{escaped.lower()}%", escape="\\")


async def list_datasets(
    conn: AsyncConnection,
    *,
    scope: frozenset[str] | None,
    keyword: str | None,
    page: int,
    limit: int,
    tag_ids: Sequence[str] = (),
) -> tuple[list[DatasetRecord], int]:
    """One page of datasets, newest first, and how many match in all; with ``tag_ids``, only
    those carrying any of the tags."""
    query = _scoped(sa.select(datasets), scope)
    if keyword:
        query = query.where(_like(datasets.c.name, keyword))
    if tag_ids:
        query = query.where(datasets.c.id.in_(tags.datasets_tagged(tag_ids)))
    total = int((await conn.execute(sa.select(sa.func.count()).select_from(query.subquery()))).scalar_one())
    rows = await conn.execute(
        query.order_by(datasets.c.created_at.desc(), datasets.c.id.desc())
        .limit(limit)
        .offset((page - 1) * limit)
    )
    return [dataset_of(row) for row in rows], total


async def views(conn: AsyncConnection, records: Sequence[DatasetRecord]) -> list[DatasetView]:
    """The datasets with their document counts, word counts, first document's form, tags and
    metadata fields."""
    if not records:
        return []
    ids = [r.id for r in records]
    available = sa.and_(
        documents.c.indexing_status == COMPLETED,
        documents.c.enabled.is_(True),
        documents.c.archived.is_(False),
    )
    counts = await conn.execute(
        sa.select(
            documents.c.dataset_id,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(documents.c.word_count), 0),
            sa.func.sum(sa.case((available, 1), else_=0)),
        )
        .where(documents.c.dataset_id.in_(ids))
        .group_by(documents.c.dataset_id)
    )
    found = {str(r[0]): (int(r[1]), int(r[2]), int(r[3] or 0)) for r in counts}
    first_forms: dict[str, str] = {}
    need_form = [r.id for r in records if r.doc_form is None and r.id in found]
    if need_form:
        first = (
            sa.select(documents.c.dataset_id, documents.c.doc_form, documents.c.position)
            .where(documents.c.dataset_id.in_(need_form))
            .order_by(documents.c.dataset_id, documents.c.position)
        )
        for row in await conn.execute(first):
            first_forms.setdefault(str(row.dataset_id), row.doc_form)
    tagged, fields = await metadata_fields.labels(conn, ids)
    return [
        DatasetView(
            r,
            *found.get(r.id, (0, 0, 0)),
            first_doc_form=first_forms.get(r.id),
            tags=tuple(tagged.get(r.id, ())),
            metadata_fields=tuple(fields.get(r.id, ())),
        )
        for r in records
    ]


async def update_dataset(conn: AsyncConnection, dataset_id: str, **values: Any) -> None:
    await conn.execute(datasets.update().where(datasets.c.id == dataset_id).values(**values))


async def delete_dataset(conn: AsyncConnection, dataset_id: str) -> None:
    """Delete the dataset and all it holds. Its indexing jobs go first, then its metadata fields,
    then the dataset (its documents and the rest by cascade): the order a worker (job, then
    document) and a change of values (fields, then documents) take their locks in."""
    await conn.execute(indexing_jobs.delete().where(indexing_jobs.c.dataset_id == dataset_id))
    await conn.execute(
        dataset_metadata_fields.delete().where(dataset_metadata_fields.c.dataset_id == dataset_id)
    )
    await conn.execute(datasets.delete().where(datasets.c.id == dataset_id))


# -- process rules --------------------------------------------------------------------------------


async def insert_rule(
    conn: AsyncConnection,
    *,
    id: str,
    dataset_id: str,
    mode: str,
    rules: dict[str, Any] | None,
    created_by: str,
    created_at: datetime,
) -> None:
    await conn.execute(
        dataset_process_rules.insert().values(
            id=id, dataset_id=dataset_id, mode=mode, rules=rules, created_by=created_by, created_at=created_at
        )
    )


async def rule(conn: AsyncConnection, rule_id: str | None) -> ProcessRuleRecord | None:
    if rule_id is None:
        return None
    row = (
        await conn.execute(sa.select(dataset_process_rules).where(dataset_process_rules.c.id == rule_id))
    ).first()
    return None if row is None else rule_of(row)


async def latest_rule_id(conn: AsyncConnection, dataset_id: str) -> str | None:
    found = (
        await conn.execute(sa.select(datasets.c.process_rule_id).where(datasets.c.id == dataset_id))
    ).scalar_one_or_none()
    return None if found is None else str(found)


# -- files ----------------------------------------------------------------------------------------


async def insert_file(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(dataset_files.insert().values(**values))


async def file(conn: AsyncConnection, file_id: str | None) -> DatasetFileRecord | None:
    if file_id is None:
        return None
    row = (await conn.execute(sa.select(dataset_files).where(dataset_files.c.id == file_id))).first()
    return None if row is None else file_of(row)


async def files(conn: AsyncConnection, file_ids: Sequence[str]) -> dict[str, DatasetFileRecord]:
    if not file_ids:
        return {}
    rows = await conn.execute(sa.select(dataset_files).where(dataset_files.c.id.in_(list(file_ids))))
    return {str(row.id): file_of(row) for row in rows}


async def unreferenced_file_keys(conn: AsyncConnection, file_ids: Sequence[str]) -> list[tuple[str, str]]:
    """(id, storage key) of those files no document points at any more."""
    if not file_ids:
        return []
    used = sa.select(documents.c.file_id).where(documents.c.file_id.is_not(None))
    rows = await conn.execute(
        sa.select(dataset_files.c.id, dataset_files.c.storage_key).where(
            dataset_files.c.id.in_(list(file_ids)), dataset_files.c.id.not_in(used)
        )
    )
    return [(str(r.id), r.storage_key) for r in rows]


async def delete_files(conn: AsyncConnection, file_ids: Sequence[str]) -> None:
    if file_ids:
        await conn.execute(dataset_files.delete().where(dataset_files.c.id.in_(list(file_ids))))


async def file_keys_of_dataset(conn: AsyncConnection, dataset_id: str) -> list[str]:
    rows = await conn.execute(
        sa.select(dataset_files.c.storage_key).where(dataset_files.c.dataset_id == dataset_id)
    )
    return [r.storage_key for r in rows]
