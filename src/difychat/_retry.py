"""When to retry a request and how long to wait first (no I/O here).

Only calls marked idempotent are ever retried: reads, ``stop``, updates that set a value. A chat
message is never resent, whatever happens, because the server may already be generating it.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import httpx

__all__ = ["RetryPolicy"]

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


async def _async_sleep(seconds: float) -> None:
    await anyio.sleep(seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """How failed idempotent requests are retried.

    The delay before retry ``n`` (0-based) is ``initial_delay * 2**n`` capped at ``max_delay``,
    scaled by a random factor in ``[1 - jitter, 1]``. A ``Retry-After`` header (seconds or an
    HTTP date) on a 429 or 503 replaces that delay when it is at most ``max_retry_after``.

    ``sleep`` and ``async_sleep`` do the waiting; replace them to observe or skip the waits::

        waits: list[float] = []
        client = DifyChat(retry_policy=RetryPolicy(sleep=waits.append))
    """

    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    jitter: float = 0.25
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    async_sleep: Callable[[float], Awaitable[None]] = field(default=_async_sleep, repr=False, compare=False)

    def backoff(self, attempt: int) -> float:
        """Exponential delay with jitter before retry number ``attempt`` (0-based)."""
        base = min(self.max_delay, self.initial_delay * (2.0**attempt))
        return base * (1.0 - self.jitter * random.random())

    def delay_for(self, attempt: int, response: httpx.Response | None = None) -> float:
        """The wait before retry ``attempt``, honouring the response's ``Retry-After``."""
        if response is not None:
            after = parse_retry_after(response.headers.get("retry-after"))
            if after is not None and 0 <= after <= self.max_retry_after:
                return after
        return self.backoff(attempt)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date), else ``None``."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    current = time.time() if now is None else now
    return max(0.0, float(when.timestamp()) - current)


def is_retryable_status(status_code: int) -> bool:
    """Statuses worth retrying: timeouts, rate limits and server-side failures."""
    return status_code in RETRYABLE_STATUS
