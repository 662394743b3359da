"""Tags of datasets and their bindings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.domain.knowledge import TagRecord
from difychat.server.store.common import insert_ignoring_conflicts
from difychat.server.store.schema import knowledge_tag_bindings, knowledge_tags

_bindings = knowledge_tag_bindings.c
_tags = knowledge_tags.c


def _in_scope(scope: frozenset[str] | None) -> sa.ColumnElement[bool]:
    return sa.true() if scope is None else _bindings.dataset_id.in_(sorted(scope))


async def list_tags(conn: AsyncConnection, scope: frozenset[str] | None) -> list[TagRecord]:
    """Every tag, newest first, counting its bindings to the datasets in ``scope`` (None: all)."""
    counted = (
        sa.select(_bindings.tag_id, sa.func.count().label("n"))
        .where(_in_scope(scope))
        .group_by(_bindings.tag_id)
        .subquery()
    )
    rows = await conn.execute(
        sa.select(_tags.id, _tags.name, sa.func.coalesce(counted.c.n, 0).label("n"))
        .select_from(knowledge_tags.outerjoin(counted, counted.c.tag_id == _tags.id))
        .order_by(_tags.created_at.desc(), _tags.id.desc())
    )
    return [TagRecord(str(r.id), r.name, int(r.n)) for r in rows]


async def tag(conn: AsyncConnection, tag_id: str, *, lock: bool = False) -> TagRecord | None:
    """The tag; ``lock``: locked until the transaction ends (a rename or a delete)."""
    query = sa.select(_tags.id, _tags.name).where(_tags.id == tag_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return None if row is None else TagRecord(str(row.id), row.name)


async def existing(conn: AsyncConnection, tag_ids: Sequence[str], *, share: bool = False) -> set[str]:
    """Those of ``tag_ids`` that exist; ``share``: locked against a rename or a delete until the
    transaction ends (bindings being made), in id order."""
    if not tag_ids:
        return set()
    query = sa.select(_tags.id).where(_tags.id.in_(list(tag_ids))).order_by(_tags.id)
    if share:
        query = query.with_for_update(read=True)
    return {str(r.id) for r in await conn.execute(query)}


async def name_taken(conn: AsyncConnection, name: str, *, other_than: str | None = None) -> bool:
    query = sa.select(_tags.id).where(_tags.name == name)
    if other_than is not None:
        query = query.where(_tags.id != other_than)
    return (await conn.execute(query.limit(1))).first() is not None


async def insert_tag(
    conn: AsyncConnection, *, id: str, name: str, created_by: str, created_at: datetime
) -> None:
    await conn.execute(
        knowledge_tags.insert().values(id=id, name=name, created_by=created_by, created_at=created_at)
    )


async def rename(conn: AsyncConnection, tag_id: str, name: str) -> None:
    await conn.execute(knowledge_tags.update().where(_tags.id == tag_id).values(name=name))


async def delete_tag(conn: AsyncConnection, tag_id: str) -> None:
    """The tag and its bindings (cascade, spelled out for databases that skip it)."""
    await conn.execute(knowledge_tag_bindings.delete().where(_bindings.tag_id == tag_id))
    await conn.execute(knowledge_tags.delete().where(_tags.id == tag_id))


async def binding_count(conn: AsyncConnection, tag_id: str, scope: frozenset[str] | None) -> int:
    query = sa.select(sa.func.count()).where(_bindings.tag_id == tag_id, _in_scope(scope))
    return int((await conn.execute(query)).scalar_one())


async def bound_outside(conn: AsyncConnection, tag_id: str, scope: frozenset[str]) -> bool:
    """Whether the tag is bound to a dataset outside ``scope``."""
    query = sa.select(_bindings.dataset_id).where(
        _bindings.tag_id == tag_id, _bindings.dataset_id.not_in(sorted(scope))
    )
    return (await conn.execute(query.limit(1))).first() is not None


async def bind(
    conn: AsyncConnection, tag_ids: Sequence[str], dataset_id: str, *, created_by: str, created_at: datetime
) -> None:
    """Bind the tags the dataset does not carry yet."""
    rows = await conn.execute(
        sa.select(_bindings.tag_id).where(
            _bindings.dataset_id == dataset_id, _bindings.tag_id.in_(list(tag_ids))
        )
    )
    present = {str(r.tag_id) for r in rows}
    missing = [t for t in dict.fromkeys(tag_ids) if t not in present]
    if missing:
        # A binding made meanwhile by a concurrent request is left as it is.
        new: list[dict[str, object]] = [
            {"tag_id": t, "dataset_id": dataset_id, "created_by": created_by, "created_at": created_at}
            for t in missing
        ]
        await conn.execute(insert_ignoring_conflicts(conn, knowledge_tag_bindings, new))


async def unbind(conn: AsyncConnection, tag_ids: Sequence[str], dataset_id: str) -> None:
    await conn.execute(
        knowledge_tag_bindings.delete().where(
            _bindings.dataset_id == dataset_id, _bindings.tag_id.in_(list(tag_ids))
        )
    )


async def tags_of(conn: AsyncConnection, dataset_ids: Sequence[str]) -> dict[str, list[TagRecord]]:
    """The tags each dataset carries, newest tag first."""
    if not dataset_ids:
        return {}
    rows = await conn.execute(
        sa.select(_bindings.dataset_id, _tags.id, _tags.name)
        .join(knowledge_tags, knowledge_tags.c.id == _bindings.tag_id)
        .where(_bindings.dataset_id.in_(list(dataset_ids)))
        .order_by(_tags.created_at.desc(), _tags.id.desc())
    )
    found: dict[str, list[TagRecord]] = {}
    for r in rows:
        found.setdefault(str(r.dataset_id), []).append(TagRecord(str(r.id), r.name))
    return found


def datasets_tagged(tag_ids: Sequence[str]) -> sa.Select[tuple[object]]:
    """The ids of the datasets carrying any of the tags (a subquery for dataset lists)."""
    return sa.select(_bindings.dataset_id).where(_bindings.tag_id.in_(list(tag_ids)))
