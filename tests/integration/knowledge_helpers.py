"""Shared steps of the Knowledge API tests: keys made through the service layer, documents waited on."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx

from difychat.server.services.knowledge.keys import create_dataset_key
from difychat.server.store import db
from tests.integration.conftest import RunningServer

# Fast polling and short leases, so that tests wait milliseconds rather than seconds.
FAST = {
    "knowledge_poll_seconds": 0.05,
    "heartbeat_seconds": 0.2,
    "lease_seconds": 1.0,
    "knowledge_retry_seconds": 0.1,
}


async def knowledge_key(server: RunningServer, datasets: Sequence[str] | None = None) -> str:
    engine = db.create_engine(server.settings.resolved_database_url(), pool_size=1)
    try:
        return await create_dataset_key(engine, datasets)
    finally:
        await engine.dispose()


async def wait_for_batch(
    client: httpx.AsyncClient, dataset_id: str, batch: str, *, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """The batch's indexing status once every document finished (completed or error)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await client.get(f"/datasets/{dataset_id}/documents/{batch}/indexing-status")
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["data"]
        if all(i["indexing_status"] in ("completed", "error") for i in items):
            return items
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still indexing: {items}")
        await asyncio.sleep(0.05)


async def make_dataset(client: httpx.AsyncClient, name: str, **fields: Any) -> dict[str, Any]:
    response = await client.post("/datasets", json={"name": name, **fields})
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found
