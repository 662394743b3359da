"""Conversations (``GET /conversations``, ``POST /conversations/{id}/name``)."""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict

from difychat.server.api.wire.common import keyset_page, seconds
from difychat.server.domain.paging import Page
from difychat.server.domain.records import Conversation as ConversationRecord


class Conversation(TypedDict):
    id: str
    name: str
    inputs: dict[str, Any]
    status: str
    introduction: str
    created_at: int
    updated_at: int


class ConversationPage(TypedDict):
    limit: int
    has_more: bool
    data: list[Conversation]


def conversation(item: ConversationRecord) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "inputs": item.inputs,
        "status": item.status,
        "introduction": item.introduction,
        "created_at": seconds(item.created_at),
        "updated_at": seconds(item.updated_at),
    }


def conversations(page: Page[ConversationRecord]) -> dict[str, Any]:
    return keyset_page(page, conversation)
