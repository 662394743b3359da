"""Listing, renaming and deleting a user's conversations."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App
from difychat.server.domain.paging import Page
from difychat.server.domain.records import Conversation
from difychat.server.errors import LAST_CONVERSATION_NOT_EXISTS, InvalidParam, NotFound
from difychat.server.services import naming
from difychat.server.services.models import ModelCatalog
from difychat.server.services.ownership import owned_conversation
from difychat.server.store import conversations as conversation_store
from difychat.server.store import messages as message_store
from difychat.server.store.conversations import SortField


class ConversationService:
    def __init__(self, engine: AsyncEngine, models: ModelCatalog) -> None:
        self._engine = engine
        self._models = models

    async def list(
        self, end_user_id: str | None, *, last_id: str | None, limit: int, sort_by: str
    ) -> Page[Conversation]:
        """A page of the caller's conversations; ``sort_by`` is a field, ``-`` first for descending."""
        descending = sort_by.startswith("-")
        field: SortField = "created_at" if sort_by.lstrip("-") == "created_at" else "updated_at"
        if end_user_id is None:  # a caller never seen: no conversations, and no last_id
            if last_id is not None:
                raise NotFound(LAST_CONVERSATION_NOT_EXISTS)
            return Page.empty(limit)
        async with self._engine.connect() as conn:
            page = await conversation_store.page(
                conn, end_user_id, sort_field=field, descending=descending, last_id=last_id, limit=limit
            )
            if not page.data and last_id is not None:
                # Nothing after it, or not the caller's: the latter is not found.
                await owned_conversation(conn, end_user_id, last_id, not_found=LAST_CONVERSATION_NOT_EXISTS)
            return page

    async def rename(
        self, app: App, end_user_id: str, conversation_id: str, *, name: str | None, auto_generate: bool
    ) -> Conversation:
        async with self._engine.connect() as conn:
            conversation = await owned_conversation(conn, end_user_id, conversation_id)
            first_query = await message_store.first_query(conn, conversation_id) if auto_generate else None
        if auto_generate:
            if first_query is None:
                raise InvalidParam("")
            config_id = conversation.app_config_id
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
            # Deleted meanwhile: not found.
            return await owned_conversation(conn, end_user_id, conversation_id)

    async def delete(self, end_user_id: str | None, conversation_id: str) -> None:
        async with self._engine.begin() as conn:
            await owned_conversation(conn, end_user_id, conversation_id)
            await conversation_store.delete(conn, conversation_id)
