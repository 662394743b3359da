"""Conversation history and feedback."""

from __future__ import annotations

from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App
from difychat.server.domain.paging import Page
from difychat.server.domain.records import Feedback, HistoryMessage
from difychat.server.errors import FIRST_MESSAGE_NOT_EXISTS, InvalidParam, NotFound
from difychat.server.services.ownership import owned_conversation, owned_message
from difychat.server.store import agent as agent_store
from difychat.server.store import feedbacks as feedback_store
from difychat.server.store import files as file_store
from difychat.server.store import messages as message_store
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.paging import page_offset

Rating = Literal["like", "dislike"]


class MessageService:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def history(
        self, end_user_id: str | None, conversation_id: str, *, first_id: str | None, limit: int
    ) -> Page[HistoryMessage]:
        """A page of messages, oldest first, each with the caller's rating and its files."""
        async with self._engine.connect() as conn:
            owner = (await owned_conversation(conn, end_user_id, conversation_id)).end_user_id
            cursor = None
            if first_id is not None:
                cursor = await message_store.in_conversation(conn, first_id, conversation_id)
                if cursor is None:
                    raise NotFound(FIRST_MESSAGE_NOT_EXISTS)
            page = await message_store.page_before(conn, conversation_id, before=cursor, limit=limit)
            ids = [message.id for message in page.data]
            ratings = await feedback_store.ratings_by_user(conn, ids, owner)
            files = await file_store.attached(conn, ids)
            thoughts = await agent_store.thoughts(conn, ids)
        return page.map(
            lambda m: HistoryMessage(m, ratings.get(m.id), files.get(m.id, []), thoughts.get(m.id, []))
        )

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
            message = await owned_message(conn, end_user_id, message_id)
            existing = await feedback_store.for_message(conn, message_id)
            now = utcnow()
            if rating is None:
                if existing is None:
                    raise InvalidParam("rating cannot be None when feedback not exists")
                await feedback_store.delete(conn, existing.id)
            elif existing is not None:
                await feedback_store.update(conn, existing.id, rating=rating, content=content, updated_at=now)
            else:
                await feedback_store.insert(
                    conn,
                    id=new_id(),
                    app_id=app.id,
                    conversation_id=message.conversation_id,
                    message_id=message_id,
                    rating=rating,
                    content=content,
                    from_source="user",
                    from_end_user_id=end_user_id,
                    from_account_id=None,
                    created_at=now,
                    updated_at=now,
                )

    async def app_feedbacks(self, app: App, *, page: int, limit: int) -> list[Feedback]:
        async with self._engine.connect() as conn:
            return await feedback_store.app_page(conn, app.id, offset=page_offset(page, limit), limit=limit)
