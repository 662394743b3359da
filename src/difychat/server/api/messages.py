"""GET /messages, POST /messages/{id}/feedbacks, GET /app/feedbacks."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api import serializers
from difychat.server.api.context import authenticate
from difychat.server.api.ids import path_id, query_id
from difychat.server.api.parsing import json_body, query, user_of, validate
from difychat.server.api.responses import JSON, SUCCESS
from difychat.server.api.schemas import FeedbackPayload, FeedbacksQuery, MessagesQuery
from difychat.server.errors import MESSAGE_NOT_EXISTS, NotFound


async def list_messages(request: Request) -> Response:
    svc, app = await authenticate(request)
    params = query(request, MessagesQuery)
    conversation_id = query_id(params.conversation_id, "conversation_id")
    if conversation_id is None:
        return JSON({"limit": params.limit, "has_more": False, "data": []})
    end_user_id = await svc.end_users.find(app, params.user)
    page, ratings = await svc.messages.history(
        end_user_id, conversation_id, first_id=params.first_id, limit=params.limit
    )
    files = await svc.files.message_files([str(row.id) for row in page.rows])
    return JSON(
        {
            "limit": params.limit,
            "has_more": page.has_more,
            "data": [
                serializers.message(row, ratings.get(str(row.id)), files.get(str(row.id))) for row in page.rows
            ],
        }
    )


async def create_feedback(request: Request) -> Response:
    svc, app = await authenticate(request)
    data = await json_body(request, svc.max_json_body_bytes)
    end_user_id = await svc.end_users.resolve(app, user_of(data), required=True)
    message_id = path_id(request, "message_id", NotFound, MESSAGE_NOT_EXISTS)
    payload = validate(FeedbackPayload, data)
    await svc.messages.feedback(app, end_user_id, message_id, rating=payload.rating, content=payload.content)
    return JSON(SUCCESS)


async def list_app_feedbacks(request: Request) -> Response:
    svc, app = await authenticate(request)
    params = query(request, FeedbacksQuery)
    rows = await svc.messages.app_feedbacks(app, page=params.page, limit=params.limit)
    return JSON({"data": [serializers.feedback(row) for row in rows]})

