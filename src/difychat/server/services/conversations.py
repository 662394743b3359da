"""Listing, renaming and deleting a user's conversations."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App
from difychat.server.errors import (
    CONVERSATION_NOT_EXISTS,
    LAST_CONVERSATION_NOT_EXISTS,
    InvalidParam,
    NotFound,
)
from difychat.server.services import naming
from difychat.server.services.models import ModelCatalog
from difychat.server.store import conversations as conversation_store
from difychat.server.store import messages as message_store
from difychat.server.store.common import Record


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Record]
    has_more: bool


class ConversationService:
    def __init__(self, engine: AsyncEngine, models: ModelCatalog) -> None:
        self._engine = engine
        self._models = models

    async def list(
        self, end_user_id: str | None, *, last_id: str | None, limit: int, sort_by: str
    ) -> Page:
        descending = sort_by.startswith("-")
        field = sort_by.lstrip("-")
        if end_user_id is None:
            if last_id is not None:
                raise NotFound(LAST_CONVERSATION_NOT_EXISTS)
            return Page([], False)
        async with self._engine.connect() as conn:
            cursor = None
            if last_id is not None:
                cursor = await conversation_store.owned(conn, last_id, end_user_id)
                if cursor is None:
                    raise NotFound(LAST_CONVERSATION_NOT_EXISTS)
            rows = await conversation_store.page(
                conn, end_user_id, sort_field=field, descending=descending, after=cursor, limit=limit + 1
            )
        return Page(rows[:limit], len(rows) > limit)

    async def rename(
        self, app: App, end_user_id: str, conversation_id: str, *, name: str | None, auto_generate: bool
    ) -> Record:
        async with self._engine.connect() as conn:
            conversation = await conversation_store.owned(conn, conversation_id, end_user_id)
            if conversation is None:
                raise NotFound(CONVERSATION_NOT_EXISTS)
            first_query = await message_store.first_query(conn, conversation_id) if auto_generate else None
        if auto_generate:
            if first_query is None:
                raise InvalidParam("")
            config_id = str(conversation.app_config_id)
            config = await self._models.config(app, config_id)
            model = self._models.model(app, config, config_id)
            try:
                new_name = await naming.generate_title(model, first_query, fallback=False)
            except Exception:
                return conversation  # as in Dify: the failure is swallowed and the old name kept
        else:
            assert name is not None
            new_name = name
        async with self._engine.begin() as conn:
            await conversation_store.rename(conn, conversation_id, new_name[:255])
            renamed = await conversation_store.owned(conn, conversation_id, end_user_id)
        if renamed is None:  # deleted meanwhile
            raise NotFound(CONVERSATION_NOT_EXISTS)
        return renamed

    async def delete(self, end_user_id: str | None, conversation_id: str) -> None:
        if end_user_id is None:
            raise NotFound(CONVERSATION_NOT_EXISTS)
        async with self._engine.begin() as conn:
            if await conversation_store.owned(conn, conversation_id, end_user_id) is None:
                raise NotFound(CONVERSATION_NOT_EXISTS)
            await conversation_store.delete(conn, conversation_id)
