"""What the web chat page adds to conversations: pins, and lists with or without the pinned ones.

Renaming and deleting are ``ConversationService``'s, shared with the service API.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.paging import Page
from difychat.server.domain.records import Conversation
from difychat.server.errors import CONVERSATION_NOT_EXISTS, LAST_CONVERSATION_NOT_EXISTS, NotFound
from difychat.server.services.ownership import owned_conversation
from difychat.server.store import pins as pin_store
from difychat.server.store.conversations import SortField, cursor_of
from difychat.server.store.db import write_transaction


class WebConversationService:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def list(
        self, end_user_id: str, *, pinned: bool | None, last_id: str | None, limit: int, sort_by: str
    ) -> Page[Conversation]:
        """A page of the user's conversations: the pinned ones, the others, or all (``None``)."""
        descending = sort_by.startswith("-")
        field: SortField = "created_at" if sort_by.lstrip("-") == "created_at" else "updated_at"
        async with self._engine.connect() as conn:
            after = None
            if last_id is not None:
                last = await owned_conversation(
                    conn, end_user_id, last_id, not_found=LAST_CONVERSATION_NOT_EXISTS
                )
                after = cursor_of(last, field)
            return await pin_store.page(
                conn,
                end_user_id,
                pinned=pinned,
                sort_field=field,
                descending=descending,
                after=after,
                limit=limit,
            )

    async def pin(self, end_user_id: str, conversation_id: str) -> None:
        try:
            async with write_transaction(self._engine) as conn:
                await owned_conversation(conn, end_user_id, conversation_id)
                await pin_store.pin(conn, conversation_id, end_user_id)
        except IntegrityError:  # deleted between the check and the pin (PostgreSQL)
            raise NotFound(CONVERSATION_NOT_EXISTS) from None

    async def unpin(self, end_user_id: str, conversation_id: str) -> None:
        async with self._engine.begin() as conn:
            await owned_conversation(conn, end_user_id, conversation_id)
            await pin_store.unpin(conn, conversation_id)
