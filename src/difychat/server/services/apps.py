"""Apps: syncing them from the apps file, the first-run demo app, and the in-memory catalog."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from difychat.server.domain.apps import App, AppConfig, ModelSettings
from difychat.server.services.keys import generate_key, hash_key, key_hint
from difychat.server.store import apps as app_store
from difychat.server.store.common import Record
from difychat.server.store.db import write_transaction

DEMO_APP_NAME = "Demo"


@dataclass(frozen=True, slots=True)
class DemoApp:
    """The demo app and a key for it that nobody has seen yet: it is stored (and works) once shown."""

    name: str
    app_id: str
    api_key: str
    model: ModelSettings
    created: bool  # the app is new (else only its key was never shown)


def demo_config(openai_base_url: str | None, openai_api_key: str | None, model_name: str | None) -> AppConfig:
    """The demo app: the configured OpenAI-compatible endpoint, else the echo provider."""
    if openai_base_url or openai_api_key:
        model = ModelSettings(
            provider="openai",
            name=model_name or "gpt-4o-mini",
            base_url=openai_base_url or "https://api.openai.com/v1",
            api_key=openai_api_key,
        )
    else:
        model = ModelSettings(provider="echo", name="echo")
    return AppConfig(
        name=DEMO_APP_NAME,
        mode="chat",
        model=model,
        pre_prompt="You are a helpful assistant.",
        opening_statement="Hi! I'm the difychat demo app. Ask me anything.",
        suggested_questions=["What can you do?"],
    )


async def _upsert(conn: AsyncConnection, row: Record | None, config: AppConfig, source: str) -> str:
    """The app of ``config`` (``row``: as read before), created or brought up to date; no write when
    it already is."""
    fingerprint = config.fingerprint()
    if row is not None and (
        row.fingerprint == fingerprint
        and row.mode == config.mode
        and row.source == source
        and row.status == "normal"
        and bool(row.enable_api) == config.enable_api
    ):
        return str(row.id)
    config_id: str | None = None
    if row is None:
        app_id = await app_store.insert_app(
            conn, name=config.name, mode=config.mode, source=source, enable_api=config.enable_api
        )
    else:
        app_id = str(row.id)
        config_id = await app_store.config_version(conn, app_id, fingerprint)
    if config_id is None:
        config_id = await app_store.insert_config_version(conn, app_id, fingerprint, config.snapshot())
    await app_store.update_app(
        conn,
        app_id,
        mode=config.mode,
        source=source,
        status="normal",
        enable_api=config.enable_api,
        config_id=config_id,
    )
    return app_id


class _Keys:
    """The keys as read once at the start of a sync, kept current as the sync writes."""

    def __init__(self, rows: list[Record]) -> None:
        self.hashes = {r.key_hash for r in rows}
        self.by_app: dict[str, list[Record]] = {}
        for r in rows:
            self.by_app.setdefault(str(r.app_id), []).append(r)


async def _sync_fixed_keys(conn: AsyncConnection, keys: _Keys, app_id: str, listed: list[SecretStr]) -> None:
    """Keys listed in the apps file exist exactly while they are listed."""
    wanted = {hash_key(k.get_secret_value()): k.get_secret_value() for k in listed}
    stale = [
        str(r.id)
        for r in keys.by_app.get(app_id, [])
        if r.source == "config" and r.key_hash not in wanted and r.revoked_at is None
    ]
    await app_store.revoke_keys(conn, stale)
    for key_hash, key in wanted.items():
        if key_hash not in keys.hashes:
            await app_store.insert_key(
                conn, app_id=app_id, key_hash=key_hash, hint=key_hint(key), source="config"
            )
            keys.hashes.add(key_hash)


async def sync_apps(engine: AsyncEngine, configs: list[AppConfig], *, live_demo: AppConfig | None) -> None:
    """Make the database match the apps file. Apps no longer listed stop answering (403).

    Apps and keys are read once; only what differs is written, so a start with an unchanged apps
    file reads two tables and writes nothing. Processes and hosts starting at once sync one after
    the other (``hold_sync``): the later ones find the apps made and write nothing.
    """
    async with write_transaction(engine) as conn:
        await app_store.hold_sync(conn)
        found = {row.name: row for row in await app_store.apps_with_fingerprints(conn)}
        keys = _Keys(await app_store.key_states(conn))
        listed = {c.name for c in configs}
        for config in configs:
            app_id = await _upsert(conn, found.get(config.name), config, "config")
            await _sync_fixed_keys(conn, keys, app_id, config.api_keys)
        for name, row in found.items():
            if name in listed:
                continue
            if row.source == "config" and row.config_id is not None and row.status != "removed":
                await app_store.update_app(conn, str(row.id), status="removed")
            if row.source == "demo" and row.config_id is not None and live_demo is not None:
                await _upsert(conn, found.get(live_demo.name), live_demo, "demo")


async def prepare_demo_app(engine: AsyncEngine, config: AppConfig) -> DemoApp | None:
    """With no apps at all, create the demo app. Returns a new key to show whenever no key of the demo
    app was ever shown (a first run, or a demo app made by a start that could not show one); None
    otherwise. The key works once ``save_demo_key`` has stored it, after it was shown."""
    async with write_transaction(engine) as conn:
        await app_store.hold_sync(conn)
        rows = await app_store.all_apps(conn)
        demo = next((r for r in rows if r.source == "demo" and r.name == config.name), None)
        if demo is None and rows:
            return None
        created = demo is None
        app_id = await _upsert(conn, None, config, "demo") if demo is None else str(demo.id)
        # A key of source "demo" is stored only once it has been shown: its row is the record of that.
        if not created and any(k.source == "demo" for k in await app_store.list_keys(conn, app_id)):
            return None
    return DemoApp(config.name, app_id, generate_key(), config.model, created)


async def save_demo_key(engine: AsyncEngine, demo: DemoApp) -> None:
    """Store the demo key that has just been shown."""
    async with engine.begin() as conn:
        await app_store.insert_key(
            conn,
            app_id=demo.app_id,
            key_hash=hash_key(demo.api_key),
            hint=key_hint(demo.api_key),
            source="demo",
            label="first run",
        )


async def load_catalog(engine: AsyncEngine, live: dict[str, AppConfig]) -> dict[str, App]:
    """Every app by id. Live configs (with credentials) come from the apps file when listed there."""
    catalog: dict[str, App] = {}
    async with engine.connect() as conn:
        for row in await app_store.all_apps(conn):
            config = live.get(row.name) or _from_snapshot(row.config, row.name)
            catalog[str(row.id)] = App(
                id=str(row.id),
                name=row.name,
                mode=row.mode,
                config=config,
                config_id=str(row.config_id),
                enable_api=bool(row.enable_api),
                status=row.status,
            )
    return catalog


def _from_snapshot(snapshot: dict[str, Any], name: str) -> AppConfig:
    return AppConfig.from_snapshot(snapshot, name)
