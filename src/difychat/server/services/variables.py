"""Conversation variables: each conversation's own copies of the variables its app declares.

The rows are made on first use (a read or an update), all in one transaction, from the
config version the conversation is pinned to; concurrent first uses insert each name once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from difychat.server.domain import variables
from difychat.server.domain.apps import App
from difychat.server.domain.features import ConversationVariableSpec
from difychat.server.domain.paging import Page
from difychat.server.domain.records import Conversation, ConversationVariable
from difychat.server.errors import (
    CONVERSATION_NOT_EXISTS,
    VARIABLE_NOT_EXISTS,
    BadRequest,
    InvalidParam,
    NotFound,
)
from difychat.server.services.models import ModelCatalog
from difychat.server.services.ownership import owned_conversation
from difychat.server.store import variables as variable_store
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.db import write_transaction
from difychat.server.store.paging import Cursor

_FORBIDDEN_IN_NAMES = ("'", '"', ";", "--", "/*", "*/", "xp_", "sp_")


def check_name_filter(name: str) -> str:
    """The ``variable_name`` filter, validated as the contract says (400 ``invalid_param``)."""
    if not 1 <= len(name) <= 255:
        raise InvalidParam("variable_name must be between 1 and 255 characters")
    if not all(ch.isalnum() or ch in "._-" for ch in name):
        raise InvalidParam(
            "variable_name can only contain letters, numbers, underscores, hyphens, and periods"
        )
    lowered = name.lower()
    if any(token in lowered for token in _FORBIDDEN_IN_NAMES):
        raise InvalidParam("variable_name contains invalid characters")
    return name


class ConversationVariableService:
    def __init__(self, engine: AsyncEngine, models: ModelCatalog) -> None:
        self._engine = engine
        self._models = models

    async def list(
        self,
        app: App,
        end_user_id: str | None,
        conversation_id: str,
        *,
        last_id: str | None,
        limit: int,
        name_contains: str | None,
    ) -> Page[ConversationVariable]:
        conversation = await self._owned(end_user_id, conversation_id)
        await self._ensure_rows(app, conversation)
        async with self._engine.connect() as conn:
            after = None
            if last_id is not None:
                last = await variable_store.in_conversation(conn, last_id, conversation_id)
                if last is None:
                    raise InvalidParam("")
                after = Cursor(last.created_at, last.id)
            return await variable_store.page(
                conn, conversation_id, after=after, name_contains=name_contains, limit=limit
            )

    async def update(
        self, app: App, end_user_id: str | None, conversation_id: str, variable_id: str, value: Any
    ) -> ConversationVariable:
        conversation = await self._owned(end_user_id, conversation_id)
        await self._ensure_rows(app, conversation)
        async with write_transaction(self._engine) as conn:
            row = await variable_store.in_conversation(conn, variable_id, conversation_id)
            if row is None:
                raise NotFound(VARIABLE_NOT_EXISTS)
            if not variables.matches(row.value_type, value):
                raise BadRequest(variables.mismatch_message(row.name, row.value_type, value))
            await variable_store.set_value(conn, variable_id, value, utcnow())
            updated = await variable_store.in_conversation(conn, variable_id, conversation_id)
        if updated is None:  # its conversation was deleted meanwhile (PostgreSQL)
            raise NotFound(VARIABLE_NOT_EXISTS)
        return updated

    async def _owned(self, end_user_id: str | None, conversation_id: str) -> Conversation:
        async with self._engine.connect() as conn:
            return await owned_conversation(conn, end_user_id, conversation_id)

    async def _ensure_rows(self, app: App, conversation: Conversation) -> None:
        config = await self._models.config(app, conversation.app_config_id)
        specs = config.conversation_variables
        if not specs:
            return
        conversation_id = conversation.id
        try:
            async with self._engine.begin() as conn:
                if await variable_store.count(conn, conversation_id) >= len(specs):
                    return
                await self._insert(conn, conversation_id, specs)
        except IntegrityError:  # the conversation was deleted meanwhile
            raise NotFound(CONVERSATION_NOT_EXISTS) from None

    @staticmethod
    async def _insert(
        conn: AsyncConnection, conversation_id: str, specs: Sequence[ConversationVariableSpec]
    ) -> None:
        now = utcnow()
        # One microsecond apart, so that the (created_at, id) order is the declared order.
        rows = [
            {
                "id": new_id(),
                "conversation_id": conversation_id,
                "name": spec.name,
                "value_type": spec.value_type,
                "value": spec.value,
                "description": spec.description,
                "created_at": now + timedelta(microseconds=i),
                "updated_at": now + timedelta(microseconds=i),
            }
            for i, spec in enumerate(specs)
        ]
        await variable_store.insert_missing(conn, rows)
