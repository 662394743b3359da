"""Apps, their config versions, API keys and end users."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.domain.records import EndUser
from difychat.server.store.common import Record, new_id, utcnow
from difychat.server.store.schema import api_keys, app_configs, apps, end_users

# PostgreSQL advisory lock of the apps file's sync ("difyap"), beside the migrations' "difych".
SYNC_LOCK = 0x646966796170


async def hold_sync(conn: AsyncConnection) -> None:
    """One sync of the apps at a time, across processes and hosts, until the transaction ends: on
    PostgreSQL an advisory lock; on SQLite the transaction is a ``db.write_transaction``."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SYNC_LOCK})


async def hold_app(conn: AsyncConnection, app_id: str) -> None:
    """Hold the app's row until the transaction ends (its keys counted, then one added), without
    blocking its chats' inserts; on SQLite the transaction is a ``db.write_transaction``."""
    await conn.execute(sa.select(apps.c.id).where(apps.c.id == app_id).with_for_update(key_share=True))


async def all_apps(conn: AsyncConnection) -> list[Record]:
    rows = await conn.execute(
        sa.select(apps, app_configs.c.config).join(app_configs, app_configs.c.id == apps.c.config_id)
    )
    return list(rows)


async def apps_with_fingerprints(conn: AsyncConnection) -> list[Record]:
    """Every app with the fingerprint of its current config (None before it has one)."""
    rows = await conn.execute(
        sa.select(apps, app_configs.c.fingerprint).outerjoin(
            app_configs, app_configs.c.id == apps.c.config_id
        )
    )
    return list(rows)


async def app_by_name(conn: AsyncConnection, name: str) -> Record | None:
    return (await conn.execute(sa.select(apps).where(apps.c.name == name))).first()


async def insert_app(conn: AsyncConnection, *, name: str, mode: str, source: str, enable_api: bool) -> str:
    app_id = new_id()
    now = utcnow()
    await conn.execute(
        apps.insert().values(
            id=app_id,
            name=name,
            mode=mode,
            source=source,
            status="normal",
            enable_api=enable_api,
            config_id=None,
            created_at=now,
            updated_at=now,
        )
    )
    return app_id


async def update_app(conn: AsyncConnection, app_id: str, **values: Any) -> None:
    await conn.execute(apps.update().where(apps.c.id == app_id).values(updated_at=utcnow(), **values))


async def config_version(conn: AsyncConnection, app_id: str, fingerprint: str) -> str | None:
    row = (
        await conn.execute(
            sa.select(app_configs.c.id)
            .where(app_configs.c.app_id == app_id, app_configs.c.fingerprint == fingerprint)
            .limit(1)
        )
    ).first()
    return None if row is None else str(row.id)


async def insert_config_version(
    conn: AsyncConnection, app_id: str, fingerprint: str, config: dict[str, Any]
) -> str:
    config_id = new_id()
    await conn.execute(
        app_configs.insert().values(
            id=config_id, app_id=app_id, fingerprint=fingerprint, config=config, created_at=utcnow()
        )
    )
    return config_id


async def config_by_id(conn: AsyncConnection, config_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(sa.select(app_configs.c.config).where(app_configs.c.id == config_id))).first()
    return None if row is None else dict(row.config)


# --- API keys -------------------------------------------------------------------------------


async def key_states(conn: AsyncConnection) -> list[Record]:
    """Every key's app, hash, source and revocation: what syncing the apps file compares with."""
    rows = await conn.execute(
        sa.select(
            api_keys.c.id, api_keys.c.app_id, api_keys.c.key_hash, api_keys.c.source, api_keys.c.revoked_at
        )
    )
    return list(rows)


async def key_by_hash(conn: AsyncConnection, key_hash: str) -> Record | None:
    return (
        await conn.execute(
            sa.select(
                api_keys.c.id,
                api_keys.c.app_id,
                api_keys.c.revoked_at,
                api_keys.c.expires_at,
                api_keys.c.rpm,
                api_keys.c.concurrency,
            ).where(api_keys.c.key_hash == key_hash)
        )
    ).first()


async def insert_key(
    conn: AsyncConnection,
    *,
    app_id: str,
    key_hash: str,
    hint: str,
    source: str,
    label: str | None = None,
    expires_at: datetime | None = None,
    rpm: int | None = None,
    concurrency: int | None = None,
) -> str:
    key_id = new_id()
    await conn.execute(
        api_keys.insert().values(
            id=key_id,
            app_id=app_id,
            key_hash=key_hash,
            hint=hint,
            source=source,
            created_at=utcnow(),
            label=label,
            expires_at=expires_at,
            rpm=rpm,
            concurrency=concurrency,
        )
    )
    return key_id


async def mark_keys_used(
    conn: AsyncConnection, used: dict[str, datetime], *, unless_since: timedelta
) -> None:
    """Record when keys were last used, except where a value less than ``unless_since`` older is
    already stored (another worker wrote it): one write per key per interval, whoever writes it."""
    if not used:
        return
    statement = (
        api_keys.update()
        .where(
            api_keys.c.id == sa.bindparam("key_id"),
            sa.or_(
                api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at <= sa.bindparam("stale_before")
            ),
        )
        .values(last_used_at=sa.bindparam("used_at"))
    )
    await conn.execute(
        statement,
        [{"key_id": k, "used_at": when, "stale_before": when - unless_since} for k, when in used.items()],
    )


async def list_keys(conn: AsyncConnection, app_id: str | None = None) -> list[Record]:
    query = (
        sa.select(api_keys, apps.c.name.label("app_name"))
        .join(apps, apps.c.id == api_keys.c.app_id)
        .order_by(apps.c.name, api_keys.c.created_at)
    )
    if app_id is not None:
        query = query.where(api_keys.c.app_id == app_id)
    return list(await conn.execute(query))


async def revoke_keys(conn: AsyncConnection, ids: list[str], when: datetime | None = None) -> int:
    if not ids:
        return 0
    result = await conn.execute(
        api_keys.update()
        .where(api_keys.c.id.in_(ids), api_keys.c.revoked_at.is_(None))
        .values(revoked_at=when or utcnow())
    )
    return int(result.rowcount)


async def count_active_keys(conn: AsyncConnection, app_id: str) -> int:
    query = sa.select(sa.func.count()).where(api_keys.c.app_id == app_id, api_keys.c.revoked_at.is_(None))
    return int((await conn.execute(query)).scalar_one())


# --- End users ------------------------------------------------------------------------------


_END_USER_OF_SESSION = sa.select(end_users.c.id).where(
    end_users.c.app_id == sa.bindparam("app_id"), end_users.c.session_id == sa.bindparam("session_id")
)


def end_user_of_session(conn: Connection, app_id: str, session_id: str) -> str | None:
    """The id of the end user of ``session_id`` in the app, if there is one (a ``Reader`` read)."""
    row = conn.execute(_END_USER_OF_SESSION, {"app_id": app_id, "session_id": session_id}).first()
    return None if row is None else str(row.id)


async def end_user_in_app(conn: AsyncConnection, app_id: str, end_user_id: str) -> EndUser | None:
    """The end user with this id if it belongs to ``app_id``."""
    row = (
        await conn.execute(
            sa.select(end_users).where(end_users.c.id == end_user_id, end_users.c.app_id == app_id)
        )
    ).first()
    if row is None:
        return None
    return EndUser(
        id=str(row.id),
        app_id=str(row.app_id),
        session_id=row.session_id,
        is_anonymous=bool(row.is_anonymous),
        created_at=row.created_at,
    )
