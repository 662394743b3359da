"""Limits through the API: per app across servers sharing Redis, per key (requests per minute, requests
at once) with Retry-After, expired keys, and when keys were last used."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from difychat.server.services import keys
from difychat.server.store.common import utcnow
from difychat.server.store.schema import api_keys
from tests.integration.conftest import LIMITED_KEY, PLAIN_KEY, RunningServer, ServerFactory
from tests.integration.helpers import FAKE_ANSWER, assert_error, database, poll
from tests.integration.redis_service import require_redis
from tests.sse import parse_frames

pytestmark = pytest.mark.anyio

TOO_MANY = "Too many requests. Please try again later. The current maximum"
APP_LIMIT = f"{TOO_MANY} concurrent requests allowed for"
KEY_RPM = f"{TOO_MANY} requests per minute allowed for this API key is"
KEY_CONCURRENCY = f"{TOO_MANY} concurrent requests allowed for this API key is"


def chat_body(mode: str = "blocking", user: str = "u1") -> dict[str, Any]:
    return {"inputs": {}, "query": "hi", "user": user, "response_mode": mode}


async def workers(
    make_server: ServerFactory, count: int, redis: bool, **settings: Any
) -> list[RunningServer]:
    """``count`` servers on one database, like worker processes (or hosts), sharing Redis or not."""
    options: dict[str, Any] = {"multi_worker": True, **settings}
    if redis:
        options["redis_url"] = await require_redis()
    return [await make_server(**options) for _ in range(count)]


async def create_key(server: RunningServer, **options: Any) -> str:
    async with database(server) as engine:
        return await keys.create_key(engine, "Plain", **options)


class Stream:
    """An open event stream: its first event, then the rest."""

    def __init__(self, response: httpx.Response) -> None:
        self._chunks = response.aiter_bytes()

    async def first_event(self) -> dict[str, Any]:
        buffer = b""
        async for chunk in self._chunks:
            buffer += chunk
            if b"\n\n" in buffer:
                return parse_frames(buffer.partition(b"\n\n")[0] + b"\n\n")[0].data or {}
        raise AssertionError("no event")

    async def rest(self) -> None:
        async for _ in self._chunks:
            pass


async def eventually_ok(
    client: httpx.AsyncClient, body: dict[str, Any], timeout: float = 10.0
) -> httpx.Response:
    """The slot of a finished turn is given back in the background: retry a refused turn for a while."""
    last: list[httpx.Response] = []

    async def accepted() -> bool:
        last[:] = [await client.post("/chat-messages", json=body)]
        return last[0].status_code == 200

    assert await poll(accepted, timeout=timeout), last[0].text
    return last[0]


# --- per app, across servers ------------------------------------------------------------------------


async def test_an_apps_limit_holds_across_servers_sharing_redis(make_server: ServerFactory) -> None:
    a, b = await workers(make_server, 2, redis=True)
    a.upstream.behaviour.gap = 0.2
    async with a.client(LIMITED_KEY) as client_a, b.client(LIMITED_KEY) as client_b:
        async with client_a.stream("POST", "/chat-messages", json=chat_body("streaming")) as stream:
            opened = Stream(stream)
            await opened.first_event()
            refused = await client_b.post("/chat-messages", json=chat_body())
            refused_stream = await client_b.post("/chat-messages", json=chat_body("streaming"))
            await opened.rest()
        accepted = await eventually_ok(client_b, chat_body())
    body = assert_error(refused, 429, "too_many_requests")
    assert body["message"].startswith(APP_LIMIT) and body["message"].endswith(" is 1.")
    assert "retry-after" not in refused.headers  # as in Dify: only a key's own limits say when
    assert_error(refused_stream, 429, "too_many_requests", body["message"])
    assert accepted.json()["answer"] == FAKE_ANSWER


async def test_a_stream_whose_client_left_holds_its_slot_until_its_answer_ends(
    make_server: ServerFactory,
) -> None:
    a, b = await workers(make_server, 2, redis=True)
    a.upstream.behaviour.gap = 0.3
    async with a.client(LIMITED_KEY) as client_a, b.client(LIMITED_KEY) as client_b:
        async with client_a.stream("POST", "/chat-messages", json=chat_body("streaming")) as stream:
            first = await Stream(stream).first_event()
        # The client is gone; its answer goes on, and so does its hold on the app's one slot.
        refused = await client_b.post("/chat-messages", json=chat_body())
        await eventually_ok(client_b, chat_body())
        history = await client_b.get(
            "/messages", params={"user": "u1", "conversation_id": first["conversation_id"]}
        )
    assert_error(refused, 429, "too_many_requests")
    assert history.json()["data"][0]["answer"] == FAKE_ANSWER  # complete when the slot was given back


async def test_without_redis_each_server_counts_its_own_requests(make_server: ServerFactory) -> None:
    a, b = await workers(make_server, 2, redis=False)
    a.upstream.behaviour.gap = 0.2
    async with (
        a.client(LIMITED_KEY) as client_a,
        b.client(LIMITED_KEY) as client_b,
        client_a.stream("POST", "/chat-messages", json=chat_body("streaming")) as stream,
    ):
        opened = Stream(stream)
        await opened.first_event()
        same_server = await client_a.post("/chat-messages", json=chat_body())
        other_server = await client_b.post("/chat-messages", json=chat_body())
        await opened.rest()
    assert_error(same_server, 429, "too_many_requests")
    assert other_server.status_code == 200, other_server.text


# --- per key ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("redis", [False, True], ids=["process", "redis"])
async def test_a_keys_requests_per_minute_answer_429_with_retry_after(
    make_server: ServerFactory, redis: bool
) -> None:
    servers = await workers(make_server, 2 if redis else 1, redis=redis)
    key = await create_key(servers[0], rpm=3)
    statuses = []
    for n in range(3):
        async with servers[n % len(servers)].client(key) as client:
            statuses.append((await client.get("/parameters")).status_code)
    async with servers[-1].client(key) as client:
        refused_read = await client.get("/conversations", params={"user": "u1"})
        refused_chat = await client.post("/chat-messages", json=chat_body())
    async with servers[-1].client(PLAIN_KEY) as client:
        other_key = await client.get("/parameters")
    assert statuses == [200, 200, 200]
    for refused in (refused_read, refused_chat):
        assert_error(refused, 429, "too_many_requests", f"{KEY_RPM} 3.")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert other_key.status_code == 200


@pytest.mark.parametrize("redis", [False, True], ids=["process", "redis"])
async def test_a_keys_concurrent_turns_answer_429_with_retry_after(
    make_server: ServerFactory, redis: bool
) -> None:
    servers = await workers(make_server, 2 if redis else 1, redis=redis)
    a, b = servers[0], servers[-1]
    key = await create_key(a, concurrency=1)
    a.upstream.behaviour.gap = 0.2
    async with a.client(key) as client_a, b.client(key) as client_b, b.client(PLAIN_KEY) as plain:
        async with client_a.stream("POST", "/chat-messages", json=chat_body("streaming")) as stream:
            opened = Stream(stream)
            await opened.first_event()
            refused = await client_b.post("/chat-messages", json=chat_body("streaming"))
            reads = await client_b.get("/conversations", params={"user": "u1"})  # not a turn
            other_key = await plain.post("/chat-messages", json=chat_body())
            await opened.rest()
        await eventually_ok(client_b, chat_body())
    assert_error(refused, 429, "too_many_requests", f"{KEY_CONCURRENCY} 1.")
    assert refused.headers["retry-after"] == "1"
    assert reads.status_code == 200 and other_key.status_code == 200


async def test_keys_without_limits_of_their_own_get_the_servers_defaults(make_server: ServerFactory) -> None:
    server = await make_server(key_rpm=2)
    unlimited = await create_key(server, rpm=0)
    own = await create_key(server, rpm=3)
    counts: dict[str, list[int]] = {}
    for key in (PLAIN_KEY, unlimited, own):
        async with server.client(key) as client:
            counts[key] = [(await client.get("/parameters")).status_code for _ in range(5)]
    assert counts[PLAIN_KEY] == [200, 200, 429, 429, 429]  # a key of the apps file: the default
    assert counts[unlimited] == [200] * 5
    assert counts[own] == [200, 200, 200, 429, 429]


# --- expiry and last use ---------------------------------------------------------------------------


async def test_an_expired_key_is_refused_like_an_invalid_one_even_while_cached(
    make_server: ServerFactory,
) -> None:
    server = await make_server(cache_seconds=60)
    key = await create_key(server, label="short-lived", expires_at=utcnow() + timedelta(seconds=1))
    async with server.client(key) as client:
        first = await client.get("/parameters")

        async def refused() -> bool:
            return (await client.get("/parameters")).status_code == 401

        assert await poll(refused, timeout=10)
        response = await client.get("/parameters")
    assert first.status_code == 200
    assert_error(response, 401, "unauthorized", "Access token is invalid")
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'


async def last_used(server: RunningServer, key: str) -> Any:
    async with database(server) as engine, engine.connect() as conn:
        return (
            await conn.execute(
                sa.select(api_keys.c.last_used_at).where(api_keys.c.key_hash == keys.hash_key(key))
            )
        ).scalar_one()


async def test_last_use_is_written_soon_after_a_keys_first_use_then_at_most_once_a_minute(
    make_server: ServerFactory,
) -> None:
    server = await make_server()
    first_key, second_key = await create_key(server), await create_key(server)
    assert await last_used(server, first_key) is None
    before = utcnow()
    async with server.client(first_key) as client:
        assert (await client.get("/parameters")).status_code == 200

        async def written() -> bool:
            return await last_used(server, first_key) is not None

        assert await poll(written, timeout=10)
        stamped = await last_used(server, first_key)
        assert before - timedelta(seconds=1) <= stamped <= utcnow() + timedelta(seconds=1)
        for _ in range(5):
            assert (await client.get("/parameters")).status_code == 200
    # Another key's first use writes what was noted since; the first key's time, written less than a
    # minute ago, is left as it is.
    async with server.client(second_key) as client:
        assert (await client.get("/parameters")).status_code == 200

    async def second_written() -> bool:
        return await last_used(server, second_key) is not None

    assert await poll(second_written, timeout=10)
    await asyncio.sleep(0.2)
    assert await last_used(server, first_key) == stamped
