"""GET /messages, POST /messages/{id}/feedbacks, GET /app/feedbacks."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.context import authenticate
from difychat.server.api.described import MESSAGES, describe
from difychat.server.api.ids import path_id, query_id
from difychat.server.api.modes import require_chat_app
from difychat.server.api.parsing import json_body, query, user_of, validate
from difychat.server.api.responses import JSON, SUCCESS, Success
from difychat.server.api.schemas import FeedbackPayload, FeedbacksQuery, MessagesQuery
from difychat.server.api.wire import feedbacks as feedback_wire
from difychat.server.api.wire import messages as wire
from difychat.server.domain.paging import Page
from difychat.server.errors import MESSAGE_NOT_EXISTS, NotFound


@describe(
    "List a conversation's messages",
    MESSAGES,
    description="Newest first, a page before `first_id`; an empty `conversation_id` is an empty page.",
    query=MessagesQuery,
    response=wire.MessagePage,
)
async def list_messages(request: Request) -> Response:
    svc, app = await authenticate(request)
    require_chat_app(app)
    params = query(request, MessagesQuery)
    file_url = svc.files.signer.preview_url
    conversation_id = query_id(params.conversation_id, "conversation_id")
    if conversation_id is None:  # an empty conversation_id is an empty page, not an error
        return JSON(wire.history(Page.empty(params.limit), file_url))
    end_user_id = await svc.end_users.find(app, params.user)
    page = await svc.messages.history(
        end_user_id, conversation_id, first_id=params.first_id, limit=params.limit
    )
    tool_url = svc.agents.files.url if svc.agents is not None else None
    return JSON(wire.history(page, file_url, tool_url))


@describe(
    "Rate a message",
    MESSAGES,
    description="`like` or `dislike`, with an optional comment; a null rating takes it back.",
    body=FeedbackPayload,
    user="required",
    response=Success,
)
async def create_feedback(request: Request) -> Response:
    svc, app = await authenticate(request)
    data = await json_body(request, svc.max_json_body_bytes)
    end_user_id = await svc.end_users.resolve(app, user_of(data), required=True)
    message_id = path_id(request, "message_id", NotFound, MESSAGE_NOT_EXISTS)
    payload = validate(FeedbackPayload, data)
    await svc.messages.feedback(app, end_user_id, message_id, rating=payload.rating, content=payload.content)
    return JSON(SUCCESS)


@describe("List the app's feedback", MESSAGES, query=FeedbacksQuery, response=feedback_wire.FeedbackList)
async def list_app_feedbacks(request: Request) -> Response:
    svc, app = await authenticate(request)
    params = query(request, FeedbacksQuery)
    found = await svc.messages.app_feedbacks(app, page=params.page, limit=params.limit)
    return JSON(feedback_wire.feedbacks(found))
