"""Alembic environment: runs the migrations over the async engine of the configured URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from difychat.server.store.db import create_engine
from difychat.server.store.schema import metadata

config = context.config


# Held while PostgreSQL migrates: hosts that start at once take turns, and the later ones find the
# database migrated. A transaction-level lock: the commit after the migrations releases it.
MIGRATION_LOCK = 0x646966796368  # "difych"


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    if sqlite:
        # SQLite alters a table by copying it and dropping the old one; with foreign keys
        # enforced, that drop would delete every row that refers to it (ON DELETE CASCADE).
        # Off for the migrations (before their transaction: the pragma is ignored inside one),
        # and every reference checked once they have run.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=sqlite)
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migrations left rows that refer to missing rows: {broken[:5]}")


async def _run_async() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url
    engine = create_engine(url, pool_size=1, statement_timeout=None)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():  # pragma: no cover
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
