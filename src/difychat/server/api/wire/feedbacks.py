"""Message feedback as ``GET /app/feedbacks`` lists it: ISO timestamps, no paging keys."""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict

from difychat.server.api.wire.common import iso
from difychat.server.domain.records import Feedback as FeedbackRecord


class Feedback(TypedDict):
    id: str
    app_id: str
    conversation_id: str
    message_id: str
    rating: str
    content: str | None
    from_source: str
    from_end_user_id: str | None
    from_account_id: str | None
    created_at: str
    updated_at: str


class FeedbackList(TypedDict):
    data: list[Feedback]


def feedback(item: FeedbackRecord) -> dict[str, Any]:
    return {
        "id": item.id,
        "app_id": item.app_id,
        "conversation_id": item.conversation_id,
        "message_id": item.message_id,
        "rating": item.rating,
        "content": item.content,
        "from_source": item.from_source,
        "from_end_user_id": item.from_end_user_id,
        "from_account_id": item.from_account_id,
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
    }


def feedbacks(items: list[FeedbackRecord]) -> dict[str, Any]:
    return {"data": [feedback(item) for item in items]}
