"""GET /conversations, POST /conversations/{id}/name, DELETE /conversations/{id}."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.context import authenticate
from difychat.server.api.described import CONVERSATIONS, describe
from difychat.server.api.ids import path_id
from difychat.server.api.modes import require_chat_app
from difychat.server.api.parsing import json_body, query, user_of, validate
from difychat.server.api.responses import JSON, no_content
from difychat.server.api.schemas import ConversationsQuery, RenamePayload
from difychat.server.api.wire import conversations as wire
from difychat.server.errors import CONVERSATION_NOT_EXISTS, NotFound


@describe(
    "List the end user's conversations",
    CONVERSATIONS,
    description="A page after `last_id`, in the order `sort_by` names.",
    query=ConversationsQuery,
    response=wire.ConversationPage,
)
async def list_conversations(request: Request) -> Response:
    svc, app = await authenticate(request)
    require_chat_app(app)
    params = query(request, ConversationsQuery)
    end_user_id = await svc.end_users.find(app, params.user)
    page = await svc.conversations.list(
        end_user_id, last_id=params.last_id, limit=params.limit, sort_by=params.sort_by
    )
    return JSON(wire.conversations(page))


@describe(
    "Rename a conversation",
    CONVERSATIONS,
    description="To `name`, or to a name the model makes from the conversation (`auto_generate`).",
    body=RenamePayload,
    user="optional",
    response=wire.Conversation,
)
async def rename_conversation(request: Request) -> Response:
    svc, app = await authenticate(request)
    data = await json_body(request, svc.max_json_body_bytes)
    end_user_id = await svc.end_users.resolve(app, user_of(data), required=False)
    require_chat_app(app)
    conversation_id = path_id(request, "conversation_id", NotFound, CONVERSATION_NOT_EXISTS)
    payload = validate(RenamePayload, data)
    name = payload.name.strip() if payload.name else None
    renamed = await svc.conversations.rename(
        app, end_user_id, conversation_id, name=name, auto_generate=payload.auto_generate
    )
    return JSON(wire.conversation(renamed))


@describe(
    "Delete a conversation",
    CONVERSATIONS,
    user="optional",
    body_required=False,
    status=204,
)
async def delete_conversation(request: Request) -> Response:
    svc, app = await authenticate(request)
    data = await json_body(request, svc.max_json_body_bytes, optional=True)
    end_user_id = await svc.end_users.find(app, user_of(data))
    require_chat_app(app)
    conversation_id = path_id(request, "conversation_id", NotFound, CONVERSATION_NOT_EXISTS)
    await svc.conversations.delete(end_user_id, conversation_id)
    return no_content()
