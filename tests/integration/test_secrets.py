"""No configured credential ever leaves the server: not in a response, a stored snapshot or a log line."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml

from difychat.server.store import db
from difychat.server.store.schema import app_configs, apps
from tests.fakes.upstream import FakeUpstream
from tests.integration.conftest import RunningServer, ServerFactory
from tests.integration.helpers import database

VAULT_KEY = "app-vaultvaultvaultvault0001"
SECRETS = {
    "model": "sk-model-SECRET-1f2e",
    "speech_to_text": "sk-stt-SECRET-8c7d",
    "text_to_speech": "sk-tts-SECRET-3b4a",
    "embedding_model": "sk-emb-SECRET-9e0f",
}


def vault_apps(upstream: FakeUpstream) -> dict[str, Any]:
    endpoint = {"base_url": upstream.base_url}
    return {
        "apps": [
            {
                "name": "Vault",
                "api_keys": [VAULT_KEY],
                "model": {
                    "provider": "openai",
                    "name": "fake-model",
                    **endpoint,
                    "api_key": SECRETS["model"],
                },
                "speech_to_text": {"enabled": True, **endpoint, "api_key": SECRETS["speech_to_text"]},
                "text_to_speech": {
                    "enabled": True,
                    "voice": "nova",
                    "autoPlay": "enabled",
                    **endpoint,
                    "api_key": SECRETS["text_to_speech"],
                },
                "embedding_model": {
                    "name": "fake-embedding",
                    **endpoint,
                    "api_key": SECRETS["embedding_model"],
                },
                "suggested_questions_after_answer": True,
            }
        ]
    }


@pytest.fixture
async def server(make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream) -> RunningServer:
    (tmp_path / "apps.yaml").write_text(yaml.safe_dump(vault_apps(upstream)))
    return await make_server()


def assert_clean(where: str, text: str) -> None:
    for block, secret in SECRETS.items():
        assert secret not in text, f"the {block} credential appears in {where}"


async def collect(client: httpx.AsyncClient) -> list[tuple[str, httpx.Response]]:
    user = {"user": "vault-user"}
    seen: list[tuple[str, httpx.Response]] = []
    for path in ("/parameters", "/info", "/site", "/meta", "/"):
        seen.append((path, await client.get(path, params=user)))
    blocking = await client.post(
        "/chat-messages", json={"query": "hello", "inputs": {}, "response_mode": "blocking", **user}
    )
    seen.append(("blocking chat", blocking))
    conversation_id = blocking.json()["conversation_id"]
    async with client.stream(
        "POST",
        "/chat-messages",
        json={
            "query": "again",
            "inputs": {},
            "response_mode": "streaming",
            "conversation_id": conversation_id,
            **user,
        },
    ) as streaming:
        await streaming.aread()
    seen.append(("streaming chat", streaming))
    seen.append(
        ("messages", await client.get("/messages", params={"conversation_id": conversation_id, **user}))
    )
    seen.append(("conversations", await client.get("/conversations", params=user)))
    message_id = blocking.json()["message_id"]
    seen.append(("suggested", await client.get(f"/messages/{message_id}/suggested", params=user)))
    seen.append(("bad request", await client.post("/chat-messages", json={"query": 1, **user})))
    seen.append(
        ("bad audio", await client.post("/audio-to-text", files={"file": ("a.exe", b"x")}, data=user))
    )
    return seen


@pytest.mark.anyio
async def test_no_configured_credential_reaches_a_response_a_snapshot_or_a_log(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with server.client(VAULT_KEY) as client:
        seen = await collect(client)
    assert seen[0][1].status_code == 200 and seen[5][1].status_code == 200
    for where, response in seen:
        assert_clean(where, response.text)
        assert_clean(f"{where} headers", str(response.headers))

    # The credentials were configured and used: they went to the model endpoint, and only there.
    assert server.upstream.requests

    async with database(server) as engine, engine.connect() as conn:
        snapshots = (await conn.execute(sa.select(app_configs.c.config))).scalars().all()
    assert snapshots
    for snapshot in snapshots:
        assert_clean("a stored config snapshot", str(snapshot))

    assert_clean("the log", caplog.text)


def test_credentials_stored_by_earlier_releases_are_removed_on_upgrade(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    # The schema as the previous release left it (its three migration heads).
    for head in ("0002_app_features", "0003_files", "0004_annotations"):
        db.upgrade(url, head)
    asyncio.run(store_legacy_snapshot(url))
    db.upgrade(url)
    stored = asyncio.run(stored_snapshot(url))
    assert_clean("an upgraded snapshot", str(stored))
    assert stored["text_to_speech"] == {"enabled": True, "voice": "nova"}


async def store_legacy_snapshot(url: str) -> None:
    engine = db.create_engine(url)
    legacy = {
        "model": {"provider": "openai", "name": "m"},
        "text_to_speech": {"enabled": True, "voice": "nova", "api_key": SECRETS["text_to_speech"]},
        "speech_to_text": {"enabled": True, "api_key": SECRETS["speech_to_text"]},
    }
    async with engine.begin() as conn:
        await conn.execute(
            apps.insert().values(
                id="6f1c5a2e-0000-4000-8000-000000000001",
                name="Old",
                mode="chat",
                source="config",
                status="normal",
                enable_api=True,
                config_id=None,
                created_at=sa.func.current_timestamp(),
                updated_at=sa.func.current_timestamp(),
            )
        )
        await conn.execute(
            app_configs.insert().values(
                id="6f1c5a2e-0000-4000-8000-000000000002",
                app_id="6f1c5a2e-0000-4000-8000-000000000001",
                fingerprint="0" * 64,
                config=legacy,
                created_at=sa.func.current_timestamp(),
            )
        )
    await engine.dispose()


async def stored_snapshot(url: str) -> dict[str, Any]:
    engine = db.create_engine(url)
    async with engine.connect() as conn:
        (stored,) = (await conn.execute(sa.select(app_configs.c.config))).scalars().all()
    await engine.dispose()
    return dict(stored)
