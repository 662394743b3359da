"""Fixtures for the client tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from difychat import AsyncDifyChat, DifyChat, RetryPolicy
from tests.unit.client.client_fakes import API_KEY, BASE_URL, FakeServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIFY_API_KEY", raising=False)
    monkeypatch.delenv("DIFY_BASE_URL", raising=False)


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def policy(sleeps: list[float]) -> RetryPolicy:
    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    return RetryPolicy(initial_delay=0.5, max_delay=8.0, jitter=0.0, sleep=sleeps.append, async_sleep=record)


@pytest.fixture
def client(server: FakeServer, policy: RetryPolicy) -> Iterator[DifyChat]:
    http = httpx.Client(transport=httpx.MockTransport(server))
    with DifyChat(API_KEY, base_url=BASE_URL, user="alice", retry_policy=policy, http_client=http) as dify:
        yield dify
    http.close()


@pytest.fixture
async def async_client(server: FakeServer, policy: RetryPolicy) -> AsyncIterator[AsyncDifyChat]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(server))
    async with AsyncDifyChat(
        API_KEY, base_url=BASE_URL, user="alice", retry_policy=policy, http_client=http
    ) as dify:
        yield dify
    await http.aclose()
