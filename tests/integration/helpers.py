"""Small HTTP helpers shared by the integration tests of the non-chat endpoints."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.store import db
from tests.integration.conftest import RunningServer

FAKE_ANSWER = "Hello from the fake model."
FAKE_TITLE = "A fake title"
ZERO_UUID = "00000000-0000-0000-0000-000000000000"

CONVERSATION_KEYS = ["id", "name", "inputs", "status", "introduction", "created_at", "updated_at"]
ERROR_KEYS = ["code", "message", "status"]


async def chat(client: httpx.AsyncClient, user: Any, query: str = "hi", **fields: Any) -> dict[str, Any]:
    """One blocking chat turn that must succeed; returns the blocking response body."""
    body: dict[str, Any] = {"inputs": {}, "query": query, "user": user, "response_mode": "blocking", **fields}
    response = await client.post("/chat-messages", json=body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def new_conversation(client: httpx.AsyncClient, user: Any, query: str = "hi", **fields: Any) -> str:
    fields.setdefault("auto_generate_name", False)
    return str((await chat(client, user, query, **fields))["conversation_id"])


async def list_conversations(client: httpx.AsyncClient, user: str | None, **params: Any) -> dict[str, Any]:
    query = {"limit": 100, **params}
    if user is not None:
        query["user"] = user
    response = await client.get("/conversations", params=query)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def conversation_ids(client: httpx.AsyncClient, user: str) -> list[str]:
    return [c["id"] for c in (await list_conversations(client, user))["data"]]


async def assert_no_conversation(client: httpx.AsyncClient, user: str) -> None:
    assert await conversation_ids(client, user) == []


def assert_error(
    response: httpx.Response, status: int, code: str, message: str | None = None
) -> dict[str, Any]:
    """A JSON error body with the contract's keys, in order; ``message`` checked exactly when given."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body: dict[str, Any] = response.json()
    assert list(body) == ERROR_KEYS, body
    assert body["code"] == code, body
    assert body["status"] == status
    if message is not None:
        assert body["message"] == message, body
    return body


def random_id() -> str:
    return str(uuid.uuid4())


async def poll(check: Callable[[], Awaitable[bool]], *, timeout: float = 5.0) -> bool:
    """Call ``check`` until it is true or ``timeout`` seconds pass (background work only)."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)


@asynccontextmanager
async def database(server: RunningServer) -> AsyncIterator[AsyncEngine]:
    """An engine on the server's own database, for test set-up the API cannot express."""
    engine = db.create_engine(server.settings.resolved_database_url(), pool_size=1)
    try:
        yield engine
    finally:
        await engine.dispose()
