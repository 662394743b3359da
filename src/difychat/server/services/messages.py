"""Conversation history and feedback."""

from __future__ import annotations

from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App
from difychat.server.errors import (
    CONVERSATION_NOT_EXISTS,
    FIRST_MESSAGE_NOT_EXISTS,
    MESSAGE_NOT_EXISTS,
    InvalidParam,
    NotFound,
)
from difychat.server.services.conversations import Page
from difychat.server.store import conversations as conversation_store
from difychat.server.store import feedbacks as feedback_store
from difychat.server.store import messages as message_store
from difychat.server.store.common import Record, new_id, utcnow

Rating = Literal["like", "dislike"]


class MessageService:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def history(
        self, end_user_id: str | None, conversation_id: str, *, first_id: str | None, limit: int
    ) -> tuple[Page, dict[str, str]]:
        """A page of messages, oldest first, and the caller's ratings of them."""
        if end_user_id is None:
            raise NotFound(CONVERSATION_NOT_EXISTS)
        async with self._engine.connect() as conn:
            if await conversation_store.owned(conn, conversation_id, end_user_id) is None:
                raise NotFound(CONVERSATION_NOT_EXISTS)
            cursor = None
            if first_id is not None:
                cursor = await message_store.in_conversation(conn, first_id, conversation_id)
                if cursor is None:
                    raise NotFound(FIRST_MESSAGE_NOT_EXISTS)
            rows = await message_store.newest_first(conn, conversation_id, before=cursor, limit=limit + 1)
            page = rows[:limit]
            page.reverse()
            ratings = await feedback_store.ratings_by_user(conn, [str(r.id) for r in page], end_user_id)
        return Page(page, len(rows) > limit), ratings

    async def feedback(
        self, app: App, end_user_id: str, message_id: str, *, rating: Rating | None, content: str | None
    ) -> None:
        try:
            await self._feedback(app, end_user_id, message_id, rating=rating, content=content)
        except IntegrityError:
            # Two first ratings raced; the other one created the row, so this one updates it.
            await self._feedback(app, end_user_id, message_id, rating=rating, content=content)

    async def _feedback(
        self, app: App, end_user_id: str, message_id: str, *, rating: Rating | None, content: str | None
    ) -> None:
        async with self._engine.begin() as conn:
            message = await message_store.owned(conn, message_id, end_user_id)
            if message is None:
                raise NotFound(MESSAGE_NOT_EXISTS)
            existing = await feedback_store.for_message(conn, message_id)
            now = utcnow()
            if rating is None:
                if existing is None:
                    raise InvalidParam("rating cannot be None when feedback not exists")
                await feedback_store.delete(conn, str(existing.id))
            elif existing is not None:
                await feedback_store.update(conn, str(existing.id), rating=rating, content=content, updated_at=now)
            else:
                await feedback_store.insert(
                    conn,
                    id=new_id(), app_id=app.id, conversation_id=str(message.conversation_id),
                    message_id=message_id, rating=rating, content=content, from_source="user",
                    from_end_user_id=end_user_id, from_account_id=None, created_at=now, updated_at=now,
                )

    async def app_feedbacks(self, app: App, *, page: int, limit: int) -> list[Record]:
        async with self._engine.connect() as conn:
            return await feedback_store.app_page(conn, app.id, offset=(page - 1) * limit, limit=limit)
