"""Syncing the apps file into the database at start-up (``sync_apps``), on SQLite and PostgreSQL.

The sync reads the apps and keys once and writes only what differs: a start with an unchanged
apps file writes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import AppConfig, ModelSettings
from difychat.server.services.apps import demo_config, sync_apps
from difychat.server.store import apps as app_store
from difychat.server.store import db
from difychat.server.store.schema import api_keys, app_configs, apps

pytestmark = pytest.mark.anyio

KEY_A = "app-syncsyncsyncA0001"
KEY_A2 = "app-syncsyncsyncA0002"
KEY_B = "app-syncsyncsyncB0001"


def config(name: str, *keys: str, prompt: str = "Be brief.", **extra: Any) -> AppConfig:
    return AppConfig(
        name=name,
        mode="chat",
        model=ModelSettings(provider="echo", name="echo"),
        pre_prompt=prompt,
        api_keys=[SecretStr(k) for k in keys],
        **extra,
    )


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(database_url, pool_size=1)
    yield engine
    await engine.dispose()


@pytest.fixture
def writes(engine: AsyncEngine) -> Iterator[list[str]]:
    """The INSERT, UPDATE and DELETE statements sent to the database."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            seen.append(statement)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(engine.sync_engine, "before_cursor_execute", record)


async def state(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(apps))).all()
        keys = (await conn.execute(sa.select(api_keys))).all()
        versions = (await conn.execute(sa.select(sa.func.count()).select_from(app_configs))).scalar_one()
    by_id = {r.id: r.name for r in rows}
    return {
        "apps": {r.name: (r.status, r.source, str(r.config_id), r.updated_at) for r in rows},
        "keys": {(by_id[k.app_id], k.hint, k.revoked_at is None) for k in keys},
        "versions": versions,
    }


async def test_an_unchanged_apps_file_writes_nothing(engine: AsyncEngine, writes: list[str]) -> None:
    configs = [config("A", KEY_A, KEY_A2), config("B", KEY_B)]
    await sync_apps(engine, configs, live_demo=None)
    assert writes  # the first start creates the apps, their configs and keys
    first = await state(engine)
    assert {name: v[:2] for name, v in first["apps"].items()} == {
        "A": ("normal", "config"),
        "B": ("normal", "config"),
    }
    assert len(first["keys"]) == 3 and all(active for _, _, active in first["keys"])

    writes.clear()
    await sync_apps(engine, [config("A", KEY_A, KEY_A2), config("B", KEY_B)], live_demo=None)
    assert writes == []
    assert await state(engine) == first


async def test_what_changed_is_written(engine: AsyncEngine, writes: list[str]) -> None:
    await sync_apps(engine, [config("A", KEY_A, KEY_A2), config("B", KEY_B)], live_demo=None)
    before = await state(engine)

    # A's prompt changes and it drops a key; B leaves the file.
    await sync_apps(engine, [config("A", KEY_A, prompt="Be thorough.")], live_demo=None)
    after = await state(engine)
    assert after["versions"] == before["versions"] + 1
    assert after["apps"]["A"][2] != before["apps"]["A"][2]
    assert after["apps"]["B"][0] == "removed"
    active = {(app, hint) for app, hint, is_active in after["keys"] if is_active}
    assert len(active) == 2 and sum(1 for app, _ in active if app == "A") == 1  # A2 revoked; B's kept

    # Back to the first prompt: its stored version is used again; B is listed again and answers.
    writes.clear()
    await sync_apps(engine, [config("A", KEY_A), config("B", KEY_B)], live_demo=None)
    again = await state(engine)
    assert again["versions"] == after["versions"]
    assert again["apps"]["A"][2] == before["apps"]["A"][2]
    assert again["apps"]["B"][0] == "normal"
    assert not any(w.lstrip().upper().startswith("INSERT") for w in writes)

    # An app that was removed stays removed without being written again.
    await sync_apps(engine, [config("A", KEY_A)], live_demo=None)
    writes.clear()
    await sync_apps(engine, [config("A", KEY_A)], live_demo=None)
    assert writes == []


async def test_the_demo_app_follows_the_live_demo_settings(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        app_id = await app_store.insert_app(conn, name="Demo", mode="chat", source="demo", enable_api=True)
        old = demo_config(None, None, None)
        config_id = await app_store.insert_config_version(conn, app_id, old.fingerprint(), old.snapshot())
        await app_store.update_app(conn, app_id, config_id=config_id)
    before = await state(engine)

    live = demo_config("http://127.0.0.1:9/v1", "sk-x", "m")
    await sync_apps(engine, [], live_demo=live)
    after = await state(engine)
    assert after["apps"]["Demo"][:2] == ("normal", "demo")
    assert after["apps"]["Demo"][2] != before["apps"]["Demo"][2]
    assert after["versions"] == before["versions"] + 1

    # A listed app of the same name takes the demo app over.
    await sync_apps(engine, [config("Demo", KEY_A)], live_demo=live)
    assert (await state(engine))["apps"]["Demo"][:2] == ("normal", "config")


async def test_processes_starting_at_once_sync_one_after_the_other(database_url: str) -> None:
    engines = [db.create_engine(database_url, pool_size=1) for _ in range(4)]
    configs = [config("Alpha", KEY_A, KEY_A2), config("Beta", KEY_B)]
    try:
        await asyncio.gather(*(sync_apps(e, configs, live_demo=None) for e in engines))
        async with engines[0].connect() as conn:
            names = sorted((await conn.execute(sa.select(apps.c.name))).scalars())
            keys = (await conn.execute(sa.select(api_keys.c.key_hash))).scalars().all()
    finally:
        for e in engines:
            await e.dispose()
    assert names == ["Alpha", "Beta"]
    assert len(keys) == len(set(keys)) == 3
