"""How many requests run at once and how many arrive a minute: per app and per API key.

A chat turn takes one *slot* of its app (``max_active_requests``) and one of its key (the key's
``concurrency``) when it is admitted, and gives them back when its generation ends, whether or not its
client is still reading. Every request also counts against its key's requests per minute. All of a
request's limits are checked and taken together: a refused request takes nothing.

``InProcessLimiter`` counts in this process: exact with one worker, per worker with several.
``RedisLimiter`` counts in Redis, shared by every worker and host; one script call admits a request.
A slot there is a sorted-set member scored by its expiry; the process holding it pushes the expiry
forward while the generation runs, so the slots of a process that dies expire on their own.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from difychat.server.errors import RateLimited, TooManyRequests

logger = logging.getLogger("difychat.limits")

WINDOW_SECONDS = 60.0
# A refused concurrent request cannot know when a slot frees up; it is told to wait this long.
CONCURRENCY_RETRY_SECONDS = 1


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """An API key's own limits (0 = unlimited)."""

    key_id: str
    rpm: int = 0
    concurrency: int = 0


class Slot(Protocol):
    def release(self) -> None:
        """Give the slot back (a second call does nothing)."""
        ...


class Limiter(Protocol):
    async def count(self, key: KeyLimits) -> None:
        """Count one request against the key's requests per minute; ``RateLimited`` when they are spent."""
        ...

    async def acquire(self, key: KeyLimits, app_id: str, app_limit: int) -> Slot:
        """Count one request and take a slot of the key and of the app (``app_limit`` 0: unlimited),
        all or nothing; ``RateLimited`` (the key) or ``TooManyRequests`` (the app) when refused."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class _NoSlot:
    """What an unlimited request holds."""

    __slots__ = ()

    def release(self) -> None:
        return None


NO_SLOT: Slot = _NoSlot()


def rate_refusal(key: KeyLimits, wait_seconds: float) -> RateLimited:
    return RateLimited(
        "Too many requests. Please try again later. "
        f"The current maximum requests per minute allowed for this API key is {key.rpm}.",
        retry_after=max(1, math.ceil(wait_seconds)),
    )


def key_refusal(key: KeyLimits) -> RateLimited:
    return RateLimited(
        "Too many requests. Please try again later. "
        f"The current maximum concurrent requests allowed for this API key is {key.concurrency}.",
        retry_after=CONCURRENCY_RETRY_SECONDS,
    )


def app_refusal(app_id: str, limit: int) -> TooManyRequests:
    # Dify's text (it answers 400; the contract answers 429 with the same message).
    return TooManyRequests(
        "Too many requests. Please try again later. "
        f"The current maximum concurrent requests allowed for {app_id} is {limit}."
    )


# --- one process ----------------------------------------------------------------------------------


class _LocalSlot:
    __slots__ = ("_limiter", "_app_id", "_key_id")

    def __init__(self, limiter: InProcessLimiter, app_id: str | None, key_id: str | None) -> None:
        self._limiter: InProcessLimiter | None = limiter
        self._app_id = app_id
        self._key_id = key_id

    def release(self) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            limiter._give_back(self._app_id, self._key_id)


class InProcessLimiter:
    """Counters in this process; with several workers every worker counts for itself."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._apps: dict[str, int] = {}
        self._keys: dict[str, int] = {}
        self._minutes: dict[str, deque[float]] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def count(self, key: KeyLimits) -> None:
        if key.rpm:
            self.take(KeyLimits(key.key_id, rpm=key.rpm), "", 0)

    async def acquire(self, key: KeyLimits, app_id: str, app_limit: int) -> Slot:
        return self.take(key, app_id, app_limit)

    def take(self, key: KeyLimits, app_id: str, app_limit: int) -> Slot:
        """``acquire`` without waiting for anything."""
        minute: deque[float] | None = None
        now = 0.0
        if key.rpm:
            now = self._clock()
            minute = self._minutes.get(key.key_id)
            if minute is None:
                minute = self._minutes[key.key_id] = deque()
            while minute and minute[0] <= now - WINDOW_SECONDS:
                minute.popleft()
            if len(minute) >= key.rpm:
                raise rate_refusal(key, minute[0] + WINDOW_SECONDS - now)
        if key.concurrency and self._keys.get(key.key_id, 0) >= key.concurrency:
            raise key_refusal(key)
        if app_limit and self._apps.get(app_id, 0) >= app_limit:
            raise app_refusal(app_id, app_limit)
        if minute is not None:
            minute.append(now)
        if not (key.concurrency or app_limit):
            return NO_SLOT
        if key.concurrency:
            self._keys[key.key_id] = self._keys.get(key.key_id, 0) + 1
        if app_limit:
            self._apps[app_id] = self._apps.get(app_id, 0) + 1
        return _LocalSlot(self, app_id if app_limit else None, key.key_id if key.concurrency else None)

    def _give_back(self, app_id: str | None, key_id: str | None) -> None:
        if app_id is not None:
            _decrement(self._apps, app_id)
        if key_id is not None:
            _decrement(self._keys, key_id)


def _decrement(counts: dict[str, int], name: str) -> None:
    left = counts.get(name, 0) - 1
    if left > 0:
        counts[name] = left
    else:
        counts.pop(name, None)
