"""When each API key was last used: remembered in memory per request, written in the background.

A request only notes the time in a dict. Every ``interval`` seconds (and at shutdown) the keys used
since the last flush are written in one short transaction of their own, and a key whose stored time is
less than ``interval`` old (written by another worker) is left alone: ``last_used_at`` costs at most
one write per key per interval, and is accurate to about two intervals. A key's first use in this
process is written at once (a new key shows as used as soon as it is).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.store import apps as app_store

SHUTDOWN_FLUSH_SECONDS = 5.0

logger = logging.getLogger("difychat.keys")

INTERVAL_SECONDS = 60.0


class KeyUsage:
    def __init__(self, engine: AsyncEngine, *, interval: float = INTERVAL_SECONDS) -> None:
        self._engine = engine
        self._interval = interval
        self._seen: dict[str, float] = {}
        self._known: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def touch(self, key_id: str) -> None:
        """The key was used now (no I/O)."""
        self._seen[key_id] = time.time()
        if key_id not in self._known:
            self._known.add(key_id)
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._every_interval(), name="key-usage")

    async def close(self) -> None:
        """Write what is left. A flush under way finishes rather than being cancelled mid-write
        (unless the whole takes longer than the shutdown allows)."""
        self._closing = True
        self._wake.set()
        # Best effort: a shutdown never waits long on a busy database for a last-used time.
        try:
            async with asyncio.timeout(SHUTDOWN_FLUSH_SECONDS):
                if self._task is not None:
                    await self._task  # its last round writes what is left
                else:
                    await self.flush()
        except TimeoutError:
            logger.warning("recording when API keys were last used did not finish before shutdown")

    async def flush(self) -> None:
        """Write what was noted since the last flush."""
        seen, self._seen = self._seen, {}
        if not seen:
            return
        used = {key_id: datetime.fromtimestamp(at, UTC).replace(tzinfo=None) for key_id, at in seen.items()}
        try:
            async with self._engine.begin() as conn:
                await app_store.mark_keys_used(conn, used, unless_since=timedelta(seconds=self._interval))
        except BaseException as exc:
            for key_id, at in seen.items():  # kept for the next flush, unless used again since
                self._seen.setdefault(key_id, at)
            if not isinstance(exc, Exception):
                raise
            logger.exception("recording when %d API keys were last used failed", len(used))

    async def _every_interval(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            await self.flush()
        await self.flush()  # what was noted while the last round wrote
