"""Stop requests across worker processes.

A stop may reach a worker that does not run the generation. It then publishes
the task id; the worker that runs it hears it and stops locally. Redis pub/sub
when configured, otherwise a table polled only while this worker has
generations running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.generation.registry import GenerationRegistry
from difychat.server.store import stops

logger = logging.getLogger("difychat.generation")


class StopRelay(Protocol):
    async def publish(self, task_id: str) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class LocalStopRelay:
    """One process: every generation is local, nothing to relay."""

    async def publish(self, task_id: str) -> None:
        return None

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class DatabaseStopRelay:
    def __init__(self, engine: AsyncEngine, registry: GenerationRegistry, interval: float) -> None:
        self._engine = engine
        self._registry = registry
        self._interval = interval
        self._last_seen = 0
        self._active = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def publish(self, task_id: str) -> None:
        async with self._engine.begin() as conn:
            await stops.add(conn, task_id)

    async def start(self) -> None:
        async with self._engine.begin() as conn:
            await stops.prune(conn, timedelta(hours=1))
            self._last_seen = await stops.newest_id(conn)
        self._registry.on_change(self._on_change)
        self._task = asyncio.get_running_loop().create_task(self._poll(), name="stop-relay")

    def _on_change(self, running: int) -> None:
        if running:
            self._active.set()
        else:
            self._active.clear()

    async def _poll(self) -> None:
        while True:
            if not self._active.is_set():
                # Skip what was published while idle: none of it can concern us.
                await self._active.wait()
                await self._catch_up()
            await asyncio.sleep(self._interval)
            try:
                async with self._engine.connect() as conn:
                    seen = await stops.since(conn, self._last_seen)
            except Exception:  # a transient database error must not end the relay
                logger.exception("polling stop requests failed")
                continue
            for row_id, task_id in seen:
                self._last_seen = max(self._last_seen, row_id)
                self._registry.stop(task_id)

    async def _catch_up(self) -> None:
        with contextlib.suppress(Exception):
            async with self._engine.connect() as conn:
                self._last_seen = await stops.newest_id(conn)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class RedisStopRelay:
    CHANNEL = "difychat:stop"

    def __init__(self, url: str, registry: GenerationRegistry) -> None:
        from redis import asyncio as aioredis

        self._redis: Any = aioredis.from_url(url)
        self._registry = registry
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def publish(self, task_id: str) -> None:
        await self._redis.publish(self.CHANNEL, task_id)

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen(), name="stop-relay")
        async with asyncio.timeout(10):
            await self._ready.wait()

    async def _listen(self) -> None:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self.CHANNEL)
        self._ready.set()
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    data = message["data"]
                    self._registry.stop(data.decode() if isinstance(data, bytes) else str(data))
        finally:
            await pubsub.aclose()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()
