"""Knowledge API keys and the datasets a scoped key may reach."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.store.common import Record
from difychat.server.store.schema import dataset_key_scopes, dataset_keys, datasets


@dataclass(frozen=True, slots=True)
class DatasetKeyRow:
    id: str
    hint: str
    label: str | None
    source: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    # None: every dataset; else the ids (and names) of the datasets it may reach.
    scope: frozenset[str] | None
    scope_names: tuple[str, ...] = ()


async def insert_key(
    conn: AsyncConnection,
    *,
    id: str,
    key_hash: str,
    hint: str,
    label: str | None,
    source: str,
    created_at: datetime,
    expires_at: datetime | None,
    scope: Sequence[str] | None,
) -> None:
    await conn.execute(
        dataset_keys.insert().values(
            id=id,
            key_hash=key_hash,
            hint=hint,
            label=label,
            scoped=scope is not None,
            source=source,
            created_at=created_at,
            expires_at=expires_at,
        )
    )
    if scope:
        await conn.execute(dataset_key_scopes.insert(), [{"key_id": id, "dataset_id": d} for d in scope])


async def _scopes(conn: AsyncConnection, key_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {k: [] for k in key_ids}
    if not key_ids:
        return found
    rows = await conn.execute(
        sa.select(dataset_key_scopes.c.key_id, datasets.c.id, datasets.c.name)
        .join(datasets, datasets.c.id == dataset_key_scopes.c.dataset_id)
        .where(dataset_key_scopes.c.key_id.in_(list(key_ids)))
        .order_by(datasets.c.name)
    )
    for row in rows:
        found[str(row.key_id)].append((str(row.id), row.name))
    return found


def _row(row: Record, scopes: list[tuple[str, str]]) -> DatasetKeyRow:
    return DatasetKeyRow(
        id=str(row.id),
        hint=row.hint,
        label=row.label,
        source=row.source,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        scope=frozenset(i for i, _ in scopes) if row.scoped else None,
        scope_names=tuple(n for _, n in scopes),
    )


async def key_by_hash(conn: AsyncConnection, key_hash: str) -> DatasetKeyRow | None:
    row = (await conn.execute(sa.select(dataset_keys).where(dataset_keys.c.key_hash == key_hash))).first()
    if row is None:
        return None
    key_id = str(row.id)
    return _row(row, (await _scopes(conn, [key_id]))[key_id])


async def list_keys(conn: AsyncConnection) -> list[DatasetKeyRow]:
    rows = list(await conn.execute(sa.select(dataset_keys).order_by(dataset_keys.c.created_at)))
    scopes = await _scopes(conn, [str(r.id) for r in rows])
    return [_row(r, scopes[str(r.id)]) for r in rows]


# PostgreSQL advisory lock of the knowledge keys' creation ("dskeys").
KEYS_LOCK = 0x64736B657973


async def hold_keys(conn: AsyncConnection) -> None:
    """One creation of a key at a time until the transaction ends, so that the count of active keys
    is the one the new key is added to: on PostgreSQL an advisory lock; on SQLite the transaction
    is a ``db.write_transaction``."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": KEYS_LOCK})


async def count_active(conn: AsyncConnection) -> int:
    found = await conn.execute(
        sa.select(sa.func.count()).select_from(dataset_keys).where(dataset_keys.c.revoked_at.is_(None))
    )
    return int(found.scalar_one())


async def revoke(conn: AsyncConnection, key_id: str, now: datetime) -> int:
    result = await conn.execute(
        dataset_keys.update()
        .where(dataset_keys.c.id == key_id, dataset_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(result.rowcount or 0)


async def touch(conn: AsyncConnection, key_id: str, now: datetime) -> None:
    await conn.execute(dataset_keys.update().where(dataset_keys.c.id == key_id).values(last_used_at=now))
