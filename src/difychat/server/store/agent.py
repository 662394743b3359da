"""Agent rounds and tool files: reads (the chat path writes them through store/writer.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.domain.thoughts import AgentThought, StoredCall, ToolFile
from difychat.server.store.common import Record
from difychat.server.store.schema import message_agent_thoughts, messages, tool_files


def thought_of(row: Record) -> AgentThought:
    return AgentThought(
        id=str(row.id),
        message_id=str(row.message_id),
        position=row.position,
        thought=row.thought,
        tool=row.tool,
        tool_labels=row.tool_labels or {},
        tool_input=row.tool_input,
        observation=row.observation,
        tool_meta=row.tool_meta or {},
        calls=tuple(_call(c) for c in row.tool_calls or () if isinstance(c, dict)),
        files=tuple(str(f) for f in row.files or ()),
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        created_at=row.created_at,
    )


def _call(raw: dict[str, Any]) -> StoredCall:
    return StoredCall(
        id=str(raw.get("id") or ""),
        name=str(raw.get("name") or ""),
        arguments=str(raw.get("arguments") or ""),
        observation=str(raw.get("observation") or ""),
    )


async def thoughts(conn: AsyncConnection, message_ids: Sequence[str]) -> dict[str, list[AgentThought]]:
    """Each message's rounds by position (messages without any are left out)."""
    if not message_ids:
        return {}
    query = (
        sa.select(message_agent_thoughts)
        .where(message_agent_thoughts.c.message_id.in_(list(message_ids)))
        .order_by(message_agent_thoughts.c.message_id, message_agent_thoughts.c.position)
    )
    out: dict[str, list[AgentThought]] = {}
    for row in await conn.execute(query):
        out.setdefault(str(row.message_id), []).append(thought_of(row))
    return out


async def answered_turns(conn: AsyncConnection, conversation_id: str, *, limit: int) -> list[Record]:
    """The latest finished turns (id, query, answer), newest first, for an agent's memory."""
    query = (
        sa.select(messages.c.id, messages.c.query, messages.c.answer)
        .where(messages.c.conversation_id == conversation_id, messages.c.status.in_(("normal", "stopped")))
        .order_by(messages.c.created_at.desc(), messages.c.id.desc())
        .limit(limit)
    )
    return list(await conn.execute(query))


def tool_file_of(row: Record) -> ToolFile:
    return ToolFile(
        id=str(row.id),
        app_id=str(row.app_id),
        conversation_id=str(row.conversation_id),
        name=row.name,
        mime_type=row.mime_type,
        size=int(row.size),
        storage_key=row.storage_key,
        created_at=row.created_at,
    )


async def tool_file(conn: AsyncConnection, file_id: str) -> ToolFile | None:
    row = (await conn.execute(sa.select(tool_files).where(tool_files.c.id == file_id))).first()
    return None if row is None else tool_file_of(row)
