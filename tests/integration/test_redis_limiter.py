"""Limits counted in Redis, shared by every limiter (worker, host) that uses the same Redis."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis import asyncio as aioredis

from difychat.server.errors import RateLimited, TooManyRequests
from difychat.server.generation.limits import KeyLimits, Limiter, Slot
from difychat.server.generation.redis_limits import RedisLimiter
from tests.integration.redis_service import require_redis

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
TTL = 1.0


@contextlib.asynccontextmanager
async def limiters(count: int, *, ttl: float = TTL) -> AsyncIterator[list[RedisLimiter]]:
    """``count`` limiters on one Redis namespace of their own, like as many worker processes."""
    url = await require_redis()
    prefix = f"difychat-test:{uuid.uuid4()}"
    running = [RedisLimiter(url, slot_ttl=ttl, prefix=prefix) for _ in range(count)]
    for limiter in running:
        await limiter.start()
    try:
        yield running
    finally:
        for limiter in running:
            await limiter.close()


async def admitted(limiter: Limiter, key: KeyLimits, app_id: str, app_limit: int) -> Slot | None:
    try:
        return await limiter.acquire(key, app_id, app_limit)
    except TooManyRequests:
        return None


async def eventually_admitted(
    limiter: Limiter, key: KeyLimits, app_id: str, app_limit: int, timeout: float = 10.0
) -> Slot:
    deadline = time.monotonic() + timeout
    while True:
        slot = await admitted(limiter, key, app_id, app_limit)
        if slot is not None:
            return slot
        assert time.monotonic() < deadline, "never admitted"
        await asyncio.sleep(0.05)


async def test_an_apps_slots_are_shared_by_every_limiter_and_given_back() -> None:
    async with limiters(2) as (a, b):
        held = [await a.acquire(KeyLimits("k1"), "app", 2), await b.acquire(KeyLimits("k2"), "app", 2)]
        with pytest.raises(TooManyRequests) as refused:
            await a.acquire(KeyLimits("k3"), "app", 2)
        assert refused.value.status == 429 and refused.value.code == "too_many_requests"
        assert "maximum concurrent requests allowed for app is 2" in refused.value.message
        assert await admitted(b, KeyLimits("k3"), "other app", 2) is not None
        held[0].release()
        # Given back in the background; the other limiter sees it promptly.
        await eventually_admitted(b, KeyLimits("k3"), "app", 2, timeout=5)


async def test_a_keys_slots_and_minute_are_shared_and_refusals_say_when_to_retry() -> None:
    async with limiters(2) as (a, b):
        key = KeyLimits("key", rpm=3, concurrency=1)
        slot = await a.acquire(key, "app", 0)
        with pytest.raises(RateLimited) as busy:
            await b.acquire(key, "app", 0)
        assert (
            busy.value.retry_after == 1
            and "concurrent requests allowed for this API key is 1" in busy.value.message
        )
        slot.release()
        (await eventually_admitted(b, key, "app", 0)).release()
        # Three requests counted (the refused one was not): the next waits for the first to age.
        await a.count(key)
        with pytest.raises(RateLimited) as spent:
            await b.count(key)
        assert 1 <= spent.value.retry_after <= 60
        assert "requests per minute allowed for this API key is 3" in spent.value.message


async def test_a_burst_of_requests_is_admitted_up_to_the_limit_and_no_further() -> None:
    # Requests asked for together go to Redis together; each still gets its own answer.
    async with limiters(2) as (a, b):
        burst = [admitted(limiter, KeyLimits(f"k{i}"), "app", 10) for i in range(15) for limiter in (a, b)]
        slots = await asyncio.gather(*burst)
        held = [slot for slot in slots if slot is not None]
        assert len(held) == 10
        assert await admitted(a, KeyLimits("late"), "app", 10) is None
        for slot in held:
            slot.release()
        again = await asyncio.gather(
            *(eventually_admitted(b, KeyLimits(f"k{i}"), "app", 10) for i in range(10))
        )
        assert len(again) == 10 and await admitted(a, KeyLimits("late"), "app", 10) is None


async def test_a_burst_is_admitted_after_redis_forgot_the_script() -> None:
    # A restarted (or flushed) Redis no longer knows the admission script: it is loaded again, and
    # the slots held elsewhere still count (not this process's own count, as when Redis is down).
    async with limiters(2) as (a, b):
        held = [await a.acquire(KeyLimits(f"held{i}"), "app", 3) for i in range(2)]
        client = aioredis.from_url(await require_redis())
        try:
            await client.script_flush()
        finally:
            await client.aclose()
        slots = await asyncio.gather(*(admitted(b, KeyLimits(f"k{i}"), "app", 3) for i in range(5)))
        assert sum(slot is not None for slot in slots) == 1
        for slot in held:
            slot.release()


async def test_a_refused_request_takes_nothing() -> None:
    async with limiters(1) as (a,):
        full = await a.acquire(KeyLimits("other"), "app", 1)
        key = KeyLimits("key", rpm=1, concurrency=1)
        with pytest.raises(TooManyRequests):
            await a.acquire(key, "app", 1)
        full.release()
        # Neither the key's minute nor its slot was spent by the refusal.
        (await eventually_admitted(a, key, "app", 1)).release()


async def test_a_slot_outlives_its_ttl_while_held_and_expires_when_its_holder_dies() -> None:
    url = await require_redis()
    prefix = f"difychat-test:{uuid.uuid4()}"
    holder = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.slot_holder", url, prefix, "app", str(TTL)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    other = RedisLimiter(url, slot_ttl=TTL, prefix=prefix)
    await other.start()
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(asyncio.to_thread(holder.stdout.readline), 30) == "held\n"
        # The holder's heartbeat keeps the slot well past its ttl.
        await asyncio.sleep(3 * TTL)
        assert await admitted(other, KeyLimits("k"), "app", 1) is None
        holder.kill()  # no goodbye: its slot is left in Redis, and expires
        await asyncio.to_thread(holder.wait)
        slot = await eventually_admitted(other, KeyLimits("k"), "app", 1, timeout=TTL + 10)
        slot.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        await other.close()


async def test_closing_a_limiter_gives_back_what_it_holds() -> None:
    async with limiters(2, ttl=60) as (a, b):
        await a.acquire(KeyLimits("k"), "app", 1)
        await a.close()
        # Well before the 60 s ttl.
        (await eventually_admitted(b, KeyLimits("k"), "app", 1, timeout=5)).release()


async def test_without_redis_the_limits_are_counted_in_this_process() -> None:
    with socket_closed() as port:
        limiter = RedisLimiter(f"redis://127.0.0.1:{port}/0", slot_ttl=TTL)
        await limiter.start()
        try:
            slot = await limiter.acquire(KeyLimits("k"), "app", 1)
            with pytest.raises(TooManyRequests):
                await limiter.acquire(KeyLimits("k"), "app", 1)
            slot.release()
            (await limiter.acquire(KeyLimits("k"), "app", 1)).release()
        finally:
            await limiter.close()


@contextlib.contextmanager
def socket_closed() -> Iterator[int]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    yield port
