"""Stopping a generation, wherever it runs."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App
from difychat.server.domain.values import parse_uuid
from difychat.server.generation.registry import GenerationRegistry
from difychat.server.generation.relay import StopRelay
from difychat.server.store import messages as message_store


class StopService:
    def __init__(self, engine: AsyncEngine, registry: GenerationRegistry, relay: StopRelay) -> None:
        self._engine = engine
        self._registry = registry
        self._relay = relay

    async def stop(self, app: App, end_user_id: str, task_id: str) -> None:
        """Stop the caller's own generation; anything else is silently ignored, as in Dify."""
        generation = self._registry.get(task_id)
        if generation is not None:
            if generation.app_id == app.id and generation.end_user_id == end_user_id:
                generation.request_stop()
            return
        if parse_uuid(task_id) is None:
            return
        async with self._engine.connect() as conn:
            row = await message_store.by_task(conn, task_id)
        if row is None or str(row.end_user_id) != end_user_id or str(row.app_id) != app.id:
            return
        if row.status == "running":
            await self._relay.publish(task_id)
