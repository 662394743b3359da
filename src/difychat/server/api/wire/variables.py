"""Conversation variables (``GET /conversations/{id}/variables`` and the update)."""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict

from difychat.server.api.wire.common import keyset_page, seconds
from difychat.server.domain import variables
from difychat.server.domain.paging import Page
from difychat.server.domain.records import ConversationVariable


class Variable(TypedDict):
    """``value`` is always text (``str()`` of the value), and integer and float types are ``number``."""

    id: str
    name: str
    value_type: str
    value: str
    description: str
    created_at: int
    updated_at: int


class VariablePage(TypedDict):
    limit: int
    has_more: bool
    data: list[Variable]


def variable(item: ConversationVariable) -> dict[str, Any]:
    """``value`` is always text, and integer and float types show as ``number``."""
    return {
        "id": item.id,
        "name": item.name,
        "value_type": variables.wire_type(item.value_type),
        "value": variables.to_text(item.value),
        "description": item.description,
        "created_at": seconds(item.created_at),
        "updated_at": seconds(item.updated_at),
    }


def variables_page(page: Page[ConversationVariable]) -> dict[str, Any]:
    return keyset_page(page, variable)
