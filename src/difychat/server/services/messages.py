"""Conversation history and feedback."""

from __future__ import annotations

from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App
from difychat.server.domain.paging import Page
from difychat.server.domain.records import Feedback, HistoryMessage
from difychat.server.errors import CONVERSATION_NOT_EXISTS, FIRST_MESSAGE_NOT_EXISTS, InvalidParam, NotFound
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
        if end_user_id is None:  # a caller never seen owns nothing
            raise NotFound(CONVERSATION_NOT_EXISTS)
        async with self._engine.connect() as conn:
            page = await message_store.history_page(
                conn, conversation_id, end_user_id, first_id=first_id, limit=limit
            )
            if not page.data:
                # Empty, or not the caller's, or an unknown first_id: tell which, in that order.
                await owned_conversation(conn, end_user_id, conversation_id)
                if (
                    first_id is not None
                    and await message_store.in_conversation(conn, first_id, conversation_id) is None
                ):
                    raise NotFound(FIRST_MESSAGE_NOT_EXISTS)
                return Page.empty(limit)
            rows = page.data
            # Most pages have neither: then no more statements.
            with_files = [row.message.id for row in rows if row.has_files]
            with_thoughts = [row.message.id for row in rows if row.has_thoughts]
            files = await file_store.attached(conn, with_files) if with_files else {}
            thoughts = await agent_store.thoughts(conn, with_thoughts) if with_thoughts else {}
        if not files and not thoughts:
            shown = [HistoryMessage(row.message, row.rating) for row in reversed(rows)]
        else:
            shown = [
                HistoryMessage(
                    row.message, row.rating, files.get(row.message.id, []), thoughts.get(row.message.id, [])
                )
                for row in reversed(rows)
            ]
        return Page(shown, page.has_more, limit)

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
