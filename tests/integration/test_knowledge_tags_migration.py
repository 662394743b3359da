"""Datasets stored before tags and metadata existed get them switched off, and undoing the migration
keeps every dataset and document (on SQLite the column is dropped in place: copying the table
would cascade its deletion to the documents)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from difychat.server.store import db
from tests.conftest import missing_service
from tests.databases import POSTGRES_ADMIN_URL, postgres_available, sqlalchemy_url

pytestmark = pytest.mark.anyio

THIS = "0016_knowledge_tags_metadata"
DATASET = "6f1c5a2e-0000-4000-8000-00000000000a"
DOCUMENT = "6f1c5a2e-0000-4000-8000-00000000000b"
OWNER = "6f1c5a2e-0000-4000-8000-00000000000c"
NEW_TABLES = {
    "knowledge_tags",
    "knowledge_tag_bindings",
    "dataset_metadata_fields",
    "dataset_metadata_bindings",
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    if not await postgres_available():
        missing_service("PostgreSQL is not reachable at 127.0.0.1:5432")
    name = f"difychat_tags_migration_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield sqlalchemy_url(name)
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def execute(url: str, statement: str, **params: object) -> list[tuple[object, ...]]:
    engine = db.create_engine(url, pool_size=1)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(sa.text(statement), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        await engine.dispose()


async def tables(url: str) -> set[str]:
    engine = db.create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def test_earlier_datasets_upgrade_with_the_built_in_fields_off_and_survive_the_downgrade(
    empty_url: str,
) -> None:
    url = empty_url
    before = ScriptDirectory.from_config(db.alembic_config(url)).get_revision(THIS).down_revision
    assert isinstance(before, str)
    await asyncio.to_thread(db.upgrade, url, before)
    now = dt.datetime(2026, 1, 1)
    await execute(
        url,
        "INSERT INTO datasets (id, name, description, provider, permission, enable_api, partial_member_list,"
        " created_by, created_at, updated_at) VALUES (:id, 'Old', '', 'vendor', 'only_me', :on, '[]', :owner,"
        " :now, :now)",
        id=DATASET,
        on=True,
        owner=OWNER,
        now=now,
    )
    await execute(
        url,
        "INSERT INTO documents (id, dataset_id, position, data_source_type, batch, name, created_from,"
        " created_by, indexing_status, enabled, archived, doc_form, created_at, updated_at) VALUES (:id,"
        " :dataset, 1, 'upload_file', 'b1', 'intro', 'api', :owner, 'completed', :on, :off, 'text_model',"
        " :now, :now)",
        id=DOCUMENT,
        dataset=DATASET,
        owner=OWNER,
        on=True,
        off=False,
        now=now,
    )

    await asyncio.to_thread(db.upgrade, url, THIS)
    assert await tables(url) >= NEW_TABLES
    assert await execute(url, "SELECT built_in_field_enabled FROM datasets") in ([(False,)], [(0,)])
    await execute(
        url,
        "INSERT INTO knowledge_tags (id, name, created_by, created_at) VALUES (:id, 'guide', :owner, :now)",
        id=OWNER,
        owner=OWNER,
        now=now,
    )
    await execute(
        url,
        "INSERT INTO knowledge_tag_bindings (tag_id, dataset_id, created_by, created_at)"
        " VALUES (:tag, :dataset, :owner, :now)",
        tag=OWNER,
        dataset=DATASET,
        owner=OWNER,
        now=now,
    )

    await asyncio.to_thread(command.downgrade, db.alembic_config(url), before)
    assert not NEW_TABLES & await tables(url)
    assert len(await execute(url, "SELECT id FROM datasets")) == 1
    assert len(await execute(url, "SELECT id FROM documents")) == 1
    await asyncio.to_thread(db.upgrade, url, THIS)  # and again, from the undone state
    assert await tables(url) >= NEW_TABLES
