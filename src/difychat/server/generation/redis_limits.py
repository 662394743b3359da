"""Limits shared by every worker and host, counted in Redis.

Per app and per key, a sorted set holds the slots in use: member = slot id, score = the moment (Redis
clock, ms) it expires. Admitting a request is one script call: it first drops what this process has
given back since its last call, trims expired slots and requests older than a minute, checks every
limit, and takes what the request needs, or nothing. While a slot is held, a heartbeat pushes its
expiry ``slot_ttl`` ahead every third of it; a process that dies stops doing so and its slots expire.
Given-back slots are removed by a background flush, or by this process's next admission, whichever
comes first: nothing but the admission waits on Redis. Admissions asked for in the same turn of the
event loop go out together, in one pipeline: one write and one read for a burst of requests rather
than one round trip (and one pooled connection) each.

Redis unreachable: requests are counted in this process (as without Redis) and Redis is asked again
every few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from typing import Any

from difychat.server.generation.limits import (
    NO_SLOT,
    WINDOW_SECONDS,
    InProcessLimiter,
    KeyLimits,
    Slot,
    app_refusal,
    key_refusal,
    rate_refusal,
)

logger = logging.getLogger("difychat.limits")

# KEYS: [1] the key's requests of the last minute, [2] the key's slots, [3] the app's slots,
#       [4..] sets of slots given back since the last call, their members in ARGV[7..].
# ARGV: [1] this request's id, [2] slot ttl (ms), [3] rpm, [4] key concurrency, [5] app concurrency,
#       [6] rate window (ms).  Returns {0, 0} when admitted, else {which limit, ms to wait}.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 4, #KEYS do
  redis.call('ZREM', KEYS[i], ARGV[i + 3])
end
local id, ttl, window = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[6])
local rpm, per_key, per_app = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if rpm > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  if redis.call('ZCARD', KEYS[1]) >= rpm then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {1, tonumber(oldest[2]) + window - now}
  end
end
if per_key > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= per_key then return {2, 0} end
end
if per_app > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) >= per_app then return {3, 0} end
end
if rpm > 0 then
  redis.call('ZADD', KEYS[1], now, id)
  redis.call('PEXPIRE', KEYS[1], window)
end
if per_key > 0 then
  redis.call('ZADD', KEYS[2], now + ttl, id)
  redis.call('PEXPIRE', KEYS[2], 2 * ttl)
end
if per_app > 0 then
  redis.call('ZADD', KEYS[3], now + ttl, id)
  redis.call('PEXPIRE', KEYS[3], 2 * ttl)
end
return {0, 0}
"""

# KEYS: sets of held slots; ARGV: [1] slot ttl (ms), [2..] the members. XX: a slot given back (or
# already expired) is never brought back.
_REFRESH = """
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', expiry, ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[i], 2 * tonumber(ARGV[1]))
end
return #KEYS
"""

# KEYS: sets; ARGV: the members to remove from them, pairwise.
_RELEASE = """
for i = 1, #KEYS do
  redis.call('ZREM', KEYS[i], ARGV[i])
end
return #KEYS
"""

WINDOW_MS = round(WINDOW_SECONDS * 1000)
BATCH = 500
OUTAGE_LOG_SECONDS = 60.0
CLOSE_SECONDS = 5.0
FLUSH_DELAY_SECONDS = 0.002
RETRY_SECONDS = 5.0


class _RedisSlot:
    __slots__ = ("_limiter", "_id")

    def __init__(self, limiter: RedisLimiter, slot_id: str) -> None:
        self._limiter = limiter
        self._id = slot_id

    def release(self) -> None:
        self._limiter._give_back(self._id)


class RedisLimiter:
    def __init__(
        self,
        url: str,
        *,
        slot_ttl: float = 30.0,
        prefix: str = "difychat:limits",
        fallback: InProcessLimiter | None = None,
    ) -> None:
        from redis import asyncio as aioredis
        from redis.exceptions import RedisError

        self._redis: Any = aioredis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        self._errors: tuple[type[BaseException], ...] = (RedisError, OSError)
        self._admit = self._redis.register_script(_ADMIT)
        self._refresh = self._redis.register_script(_REFRESH)
        self._release = self._redis.register_script(_RELEASE)
        self._ttl_ms = max(1, round(slot_ttl * 1000))
        self._heartbeat_seconds = slot_ttl / 3
        self._prefix = prefix
        self._fallback = fallback or InProcessLimiter()
        # Slot ids: unique across processes without a random draw per request.
        self._token = secrets.token_hex(8)
        self._ids = itertools.count()
        self._held: dict[str, tuple[str, ...]] = {}
        self._given_back: list[tuple[str, str]] = []
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._outage_logged = -OUTAGE_LOG_SECONDS
        self._down_until = 0.0
        # Admissions waiting to go out in the next pipeline: (keys, args, the caller's future).
        self._queued: list[tuple[list[str], list[Any], asyncio.Future[Any]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._heartbeat(), name="limits-heartbeat"),
            loop.create_task(self._flusher(), name="limits-release"),
        ]

    async def close(self) -> None:
        """Give back every slot still held (their generations end with this process), then disconnect."""
        for slot_id in list(self._held):
            self._give_back(slot_id)
        # The tasks are asked to end rather than cancelled: a cancellation that arrives while redis-py
        # awaits a reply can be swallowed by it, leaving the task running.
        self._closing.set()
        self._wake.set()
        if self._sender is not None and not self._sender.done():
            await asyncio.wait([self._sender], timeout=CLOSE_SECONDS)
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=CLOSE_SECONDS)
            for task in stuck:
                task.cancel()
        await self._flush()
        await self._redis.aclose()

    async def count(self, key: KeyLimits) -> None:
        if key.rpm:
            await self.acquire(KeyLimits(key.key_id, rpm=key.rpm), "", 0)

    async def acquire(self, key: KeyLimits, app_id: str, app_limit: int) -> Slot:
        if not (key.rpm or key.concurrency or app_limit):
            return NO_SLOT
        if self._down_until and time.monotonic() < self._down_until:
            return self._fallback.take(key, app_id, app_limit)
        slot_id = f"{self._token}:{next(self._ids)}"
        key_slots = f"{self._prefix}:key:{key.key_id}:slots"
        app_slots = f"{self._prefix}:app:{app_id}:slots"
        sets = tuple(s for s, limit in ((key_slots, key.concurrency), (app_slots, app_limit)) if limit)
        given_back, self._given_back = self._given_back, []
        minute = f"{self._prefix}:key:{key.key_id}:minute"
        limits = (key.rpm, key.concurrency, app_limit)
        try:
            which, wait_ms = await self._admission(
                [minute, key_slots, app_slots, *(s for s, _ in given_back)],
                [slot_id, self._ttl_ms, *limits, WINDOW_MS, *(m for _, m in given_back)],
            )
        except BaseException as exc:
            # The call may or may not have run: remove what it may have taken, and what it carried.
            self._given_back.extend(given_back)
            self._given_back.extend((s, slot_id) for s in sets)
            self._wake.set()
            if not isinstance(exc, self._errors):
                raise
            self._outage(exc)
            # Not asked again for a while: an unreachable Redis must not slow every request down.
            self._down_until = time.monotonic() + RETRY_SECONDS
            return self._fallback.take(key, app_id, app_limit)
        if which == 1:
            raise rate_refusal(key, int(wait_ms) / 1000)
        if which == 2:
            raise key_refusal(key)
        if which == 3:
            raise app_refusal(app_id, app_limit)
        if not sets:
            return NO_SLOT
        self._held[slot_id] = sets
        return _RedisSlot(self, slot_id)

    def _admission(self, keys: list[str], args: list[Any]) -> asyncio.Future[Any]:
        """The admission script's reply, sent with the others asked for in this turn of the loop."""
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Any] = loop.create_future()
        self._queued.append((keys, args, reply))
        if self._sender is None or self._sender.done():
            self._sender = loop.create_task(self._send_admissions(), name="limits-admit")
        return reply

    async def _send_admissions(self) -> None:
        await asyncio.sleep(0)  # every admission asked for in this turn of the loop joins
        while self._queued:
            batch, self._queued = self._queued[:BATCH], self._queued[BATCH:]
            waiting = [(keys, args, reply) for keys, args, reply in batch if not reply.done()]
            if not waiting:
                continue
            try:
                replies = await self._pipelined(waiting)
            except BaseException as exc:
                for _, _, reply in waiting:
                    if reply.done():
                        continue
                    if isinstance(exc, Exception):
                        reply.set_exception(exc)
                    else:
                        reply.cancel()
                if not isinstance(exc, Exception):
                    raise
                continue
            for (_, _, reply), answer in zip(waiting, replies, strict=True):
                if reply.done():
                    continue
                if isinstance(answer, BaseException):
                    reply.set_exception(answer)
                else:
                    reply.set_result(answer)

    async def _pipelined(self, batch: list[tuple[list[str], list[Any], asyncio.Future[Any]]]) -> list[Any]:
        """One pipeline of admission scripts; a Redis that lost the script (restarted, flushed) gets
        it again and those admissions are asked once more."""
        from redis.exceptions import NoScriptError

        if len(batch) == 1:  # alone: no pipeline to set up
            keys, args, _ = batch[0]
            try:
                return [await self._admit(keys=keys, args=args)]
            except self._errors as exc:
                return [exc]
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args, _ in batch:
                pipe.evalsha(self._admit.sha, len(keys), *keys, *args)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        for i, answer in enumerate(replies):
            if isinstance(answer, NoScriptError):
                keys, args, _ = batch[i]
                replies[i] = await self._admit(keys=keys, args=args)  # loads the script, then runs it
        return replies

    def _give_back(self, slot_id: str) -> None:
        sets = self._held.pop(slot_id, None)
        if sets is None:
            return
        self._given_back.extend((s, slot_id) for s in sets)
        self._wake.set()

    def _outage(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._outage_logged >= OUTAGE_LOG_SECONDS:
            self._outage_logged = now
            logger.warning("Redis is unreachable (%s): limits are counted in this process meanwhile", exc)

    async def _flusher(self) -> None:
        while not self._closing.is_set():
            await self._wake.wait()
            if not self._closing.is_set():
                # Turns that end together are given back in one call (or ride on the next admission).
                await asyncio.sleep(FLUSH_DELAY_SECONDS)
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        batch, self._given_back = self._given_back, []
        for start in range(0, len(batch), BATCH):
            part = batch[start : start + BATCH]
            try:
                await self._release(keys=[s for s, _ in part], args=[m for _, m in part])
            except asyncio.CancelledError:
                self._given_back.extend(batch[start:])
                raise
            except self._errors as exc:
                # Not retried: no longer refreshed, these slots expire within the ttl.
                self._outage(exc)

    async def _heartbeat(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._heartbeat_seconds):
                    await self._closing.wait()
            if self._closing.is_set():
                return
            held = [(s, slot_id) for slot_id, sets in self._held.items() for s in sets]
            for start in range(0, len(held), BATCH):
                part = held[start : start + BATCH]
                try:
                    await self._refresh(keys=[s for s, _ in part], args=[self._ttl_ms, *(m for _, m in part)])
                except self._errors as exc:
                    self._outage(exc)
