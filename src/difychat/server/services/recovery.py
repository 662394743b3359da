"""Nothing stays "running" after a process dies.

Each server process holds a lease: a ``workers`` row whose heartbeat it renews every
``heartbeat_seconds``. Every process, at start and at each heartbeat, ends the answers of
processes whose lease has run out (``lease_seconds`` without a heartbeat) as interrupted
errors, keeping the text they checkpointed (see ``TurnRunner``). One process restarting never
touches another live process's answers: they are tied to that process's own lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.store import workers as worker_store
from difychat.server.store.common import new_id, utcnow

logger = logging.getLogger("difychat.recovery")


class WorkerLease:
    def __init__(
        self, engine: AsyncEngine, *, heartbeat_seconds: float = 5.0, lease_seconds: float = 30.0
    ) -> None:
        if lease_seconds <= heartbeat_seconds:
            raise ValueError("a lease must outlast several heartbeats")
        self.worker_id = new_id()
        self._engine = engine
        self._heartbeat = heartbeat_seconds
        self._lease = timedelta(seconds=lease_seconds)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        async with self._engine.begin() as conn:
            await worker_store.register(
                conn, self.worker_id, socket.gethostname()[:255], os.getpid(), utcnow()
            )
        await self.recover()
        self._task = asyncio.get_running_loop().create_task(self._beat(), name="worker-lease")

    async def recover(self) -> int:
        now = utcnow()
        async with self._engine.begin() as conn:
            ended = await worker_store.recover(conn, expired_before=now - self._lease, now=now)
        if ended:
            logger.warning("ended %d answers left running by a server process that stopped", ended)
        return ended

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat)
            try:
                async with self._engine.begin() as conn:
                    alive = await worker_store.heartbeat(conn, self.worker_id, utcnow())
                    if not alive:
                        # Declared dead (this process stalled past its lease): take a new lease row.
                        await worker_store.register(
                            conn, self.worker_id, socket.gethostname()[:255], os.getpid(), utcnow()
                        )
                await self.recover()
            except Exception:
                logger.warning("renewing the worker lease failed; retrying", exc_info=True)

    async def stop(self) -> None:
        """At a clean shutdown, after the running answers were saved: give the lease back."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            async with self._engine.begin() as conn:
                await worker_store.unregister(conn, self.worker_id)
