"""Annotations, the per-app annotation reply settings, and the enable/disable jobs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.domain.records import Annotation, AnnotationJob, ReplySettings
from difychat.server.store.common import Record
from difychat.server.store.schema import annotation_jobs, annotation_settings, apps
from difychat.server.store.schema import annotations_table as annotations_t

# What the API shows of an annotation.
_SHOWN = (
    annotations_t.c.id,
    annotations_t.c.question,
    annotations_t.c.answer,
    annotations_t.c.hit_count,
    annotations_t.c.created_at,
)


def annotation_of(row: Record) -> Annotation:
    return Annotation(
        id=str(row.id),
        question=row.question,
        answer=row.answer,
        hit_count=int(row.hit_count),
        created_at=row.created_at,
    )


def job_of(row: Record) -> AnnotationJob:
    return AnnotationJob(
        id=str(row.id),
        app_id=str(row.app_id),
        action=row.action,
        status=row.status,
        error_msg=row.error_msg,
        score_threshold=float(row.score_threshold),
        embedding_provider_name=row.embedding_provider_name,
        embedding_model_name=row.embedding_model_name,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def insert(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(annotations_t.insert().values(**values))


async def get(conn: AsyncConnection, app_id: str, annotation_id: str) -> Annotation | None:
    row = (
        await conn.execute(
            sa.select(*_SHOWN).where(annotations_t.c.id == annotation_id, annotations_t.c.app_id == app_id)
        )
    ).first()
    return None if row is None else annotation_of(row)


async def update(conn: AsyncConnection, app_id: str, annotation_id: str, **values: Any) -> bool:
    result = await conn.execute(
        annotations_t.update()
        .where(annotations_t.c.id == annotation_id, annotations_t.c.app_id == app_id)
        .values(**values)
    )
    return bool(result.rowcount)


async def delete(conn: AsyncConnection, app_id: str, annotation_id: str) -> bool:
    result = await conn.execute(
        annotations_t.delete().where(annotations_t.c.id == annotation_id, annotations_t.c.app_id == app_id)
    )
    return bool(result.rowcount)


def _keyword_filter(keyword: str) -> sa.ColumnElement[bool]:
    escaped = keyword.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return sa.or_(
        sa.func.lower(annotations_t.c.question).like(pattern, escape="\\"),
        sa.func.lower(annotations_t.c.answer).like(pattern, escape="\\"),
    )


async def page(
    conn: AsyncConnection, app_id: str, *, keyword: str | None, offset: int, limit: int
) -> tuple[list[Annotation], int]:
    """Newest first (then by id), and the total that matches."""
    where = [annotations_t.c.app_id == app_id]
    if keyword:
        where.append(_keyword_filter(keyword))
    rows = [
        annotation_of(row)
        for row in await conn.execute(
            sa.select(*_SHOWN)
            .where(*where)
            .order_by(annotations_t.c.created_at.desc(), annotations_t.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
    ]
    total = (
        await conn.execute(sa.select(sa.func.count()).select_from(annotations_t).where(*where))
    ).scalar_one()
    return rows, int(total)


async def candidates(conn: AsyncConnection, app_id: str, *, limit: int) -> list[Record]:
    """What a chat query is matched against: the newest ``limit`` annotations of the app."""
    return list(
        await conn.execute(
            sa.select(
                annotations_t.c.id,
                annotations_t.c.question,
                annotations_t.c.answer,
                annotations_t.c.account_id,
                annotations_t.c.account_name,
                annotations_t.c.embedding,
                annotations_t.c.embedding_model,
            )
            .where(annotations_t.c.app_id == app_id)
            .order_by(annotations_t.c.created_at.desc(), annotations_t.c.id.desc())
            .limit(limit)
        )
    )


async def without_embedding(conn: AsyncConnection, app_id: str, model: str) -> list[Record]:
    return list(
        await conn.execute(
            sa.select(annotations_t.c.id, annotations_t.c.question).where(
                annotations_t.c.app_id == app_id,
                sa.or_(annotations_t.c.embedding_model.is_(None), annotations_t.c.embedding_model != model),
            )
        )
    )


async def set_embeddings(
    conn: AsyncConnection, embedded: Sequence[tuple[str, str, list[float]]], model: str
) -> None:
    """Store each ``(annotation id, question, vector)``, unless the question was edited since it
    was read: an edit clears the embedding, and a vector of the old question must not replace it."""
    if embedded:
        await conn.execute(
            _SET_EMBEDDING,
            [{"w_id": i, "w_question": q, "w_embedding": v, "w_model": model} for i, q, v in embedded],
        )


_SET_EMBEDDING = (
    annotations_t.update()
    .where(annotations_t.c.id == sa.bindparam("w_id"), annotations_t.c.question == sa.bindparam("w_question"))
    .values(embedding=sa.bindparam("w_embedding"), embedding_model=sa.bindparam("w_model"))
)


async def clear_embeddings(conn: AsyncConnection, app_id: str) -> None:
    await conn.execute(
        annotations_t.update()
        .where(annotations_t.c.app_id == app_id)
        .values(embedding=None, embedding_model=None)
    )


async def count_hit(conn: AsyncConnection, annotation_id: str) -> None:
    await conn.execute(
        annotations_t.update()
        .where(annotations_t.c.id == annotation_id)
        .values(hit_count=annotations_t.c.hit_count + 1)
    )


async def settings(conn: AsyncConnection, app_id: str) -> ReplySettings | None:
    row = (
        await conn.execute(sa.select(annotation_settings).where(annotation_settings.c.app_id == app_id))
    ).first()
    if row is None:
        return None
    return ReplySettings(
        id=str(row.id),
        enabled=bool(row.enabled),
        score_threshold=float(row.score_threshold),
        embedding_provider_name=row.embedding_provider_name,
        embedding_model_name=row.embedding_model_name,
    )


async def save_settings(conn: AsyncConnection, app_id: str, **values: Any) -> None:
    result = await conn.execute(
        annotation_settings.update().where(annotation_settings.c.app_id == app_id).values(**values)
    )
    if not result.rowcount:
        await conn.execute(
            annotation_settings.insert().values(app_id=app_id, created_at=values["updated_at"], **values)
        )


async def insert_job(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(annotation_jobs.insert().values(**values))


async def job(conn: AsyncConnection, app_id: str, action: str, job_id: str) -> AnnotationJob | None:
    row = (
        await conn.execute(
            sa.select(annotation_jobs).where(
                annotation_jobs.c.id == job_id,
                annotation_jobs.c.app_id == app_id,
                annotation_jobs.c.action == action,
            )
        )
    ).first()
    return None if row is None else job_of(row)


async def hold_jobs(conn: AsyncConnection, app_id: str) -> None:
    """Lock the app's row until the transaction ends: one job start of the app at a time (on
    PostgreSQL; on SQLite the transaction is a ``db.write_transaction``)."""
    # FOR NO KEY UPDATE: the app's chat rows still pass their foreign-key checks meanwhile.
    await conn.execute(sa.select(apps.c.id).where(apps.c.id == app_id).with_for_update(key_share=True))


async def unfinished_job(conn: AsyncConnection, app_id: str) -> AnnotationJob | None:
    row = (
        await conn.execute(
            sa.select(annotation_jobs)
            .where(
                annotation_jobs.c.app_id == app_id, annotation_jobs.c.status.in_(("waiting", "processing"))
            )
            .order_by(annotation_jobs.c.created_at.asc())
            .limit(1)
        )
    ).first()
    return None if row is None else job_of(row)


async def set_job_status(
    conn: AsyncConnection, job_id: str, status: str, error_msg: str, updated_at: Any
) -> None:
    await conn.execute(
        annotation_jobs.update()
        .where(annotation_jobs.c.id == job_id)
        .values(status=status, error_msg=error_msg, updated_at=updated_at)
    )
