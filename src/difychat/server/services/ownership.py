"""What an end user may touch: their own conversations and messages; anything else is "not found".

An unknown id, another user's, another app's, and a caller never seen before (``end_user_id`` None)
all get the same 404, so that ids of others cannot be probed.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.domain.records import Conversation, Message
from difychat.server.errors import CONVERSATION_NOT_EXISTS, MESSAGE_NOT_EXISTS, NotFound
from difychat.server.store import conversations as conversation_store
from difychat.server.store import messages as message_store


async def owned_conversation(
    conn: AsyncConnection,
    end_user_id: str | None,
    conversation_id: str,
    *,
    not_found: str = CONVERSATION_NOT_EXISTS,
) -> Conversation:
    """The caller's conversation, else 404 ``not_found``."""
    found = None
    if end_user_id is not None:
        found = await conversation_store.owned(conn, conversation_id, end_user_id)
    if found is None:
        raise NotFound(not_found)
    return found


async def owned_message(conn: AsyncConnection, end_user_id: str | None, message_id: str) -> Message:
    """The caller's message, else 404 "Message Not Exists."."""
    found = None
    if end_user_id is not None:
        found = await message_store.owned(conn, message_id, end_user_id)
    if found is None:
        raise NotFound(MESSAGE_NOT_EXISTS)
    return found
