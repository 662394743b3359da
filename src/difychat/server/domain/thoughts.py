"""An agent answer's stored rounds and the files its tools made, as the store returns them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class StoredCall:
    """One tool call of a round, kept whole for history replay."""

    id: str
    name: str
    arguments: str
    observation: str


@dataclass(frozen=True, slots=True)
class AgentThought:
    id: str
    message_id: str
    position: int
    thought: str
    tool: str
    tool_labels: dict[str, Any]
    tool_input: str
    observation: str
    tool_meta: dict[str, Any]
    calls: tuple[StoredCall, ...]
    files: tuple[str, ...]
    prompt_tokens: int
    completion_tokens: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ToolFile:
    id: str
    app_id: str
    conversation_id: str
    name: str
    mime_type: str
    size: int
    storage_key: str
    created_at: datetime
