"""The migrations build exactly the schema the code declares, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from difychat.server.store import db
from difychat.server.store.knowledge_index import UNDECLARED_PREFIX
from difychat.server.store.schema import metadata

pytestmark = pytest.mark.anyio


def _declared(name: str | None, _type: str, _parents: object) -> bool:
    # The full-text index is made by each dialect's own DDL (an FTS5 table, a tsvector table).
    return not (name or "").startswith(UNDECLARED_PREFIX)


def _compare(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"include_name": _declared})
    return list(compare_metadata(context, metadata))


async def test_the_migrated_database_matches_the_declared_schema(database_url: str, tmp_path: Path) -> None:
    # ``database_url`` is a database migrated by ``db.upgrade`` (a copy of a migrated template).
    engine = db.create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            found = await conn.run_sync(_compare)
    finally:
        await engine.dispose()
    assert found == []
