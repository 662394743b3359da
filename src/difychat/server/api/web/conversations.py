"""The page's conversations: list (pinned or not), rename, delete, pin and unpin."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.context import Services
from difychat.server.api.described import WEB_API, describe
from difychat.server.api.ids import path_id
from difychat.server.api.modes import require_chat_app
from difychat.server.api.parsing import json_body, query, validate
from difychat.server.api.responses import JSON, SUCCESS, Success, no_content
from difychat.server.api.schemas import RenamePayload
from difychat.server.api.web.context import web_conversations, web_route
from difychat.server.api.web.schemas import WebConversationsQuery
from difychat.server.api.wire import conversations as wire
from difychat.server.errors import CONVERSATION_NOT_EXISTS, NotFound
from difychat.server.services.web_sites import Passport


def _conversation_id(request: Request) -> str:
    return path_id(request, "conversation_id", NotFound, CONVERSATION_NOT_EXISTS)


@describe(
    "List the visitor's conversations",
    WEB_API,
    description="`pinned` `true` or `false` lists only those; absent, all of them.",
    query=WebConversationsQuery,
    response=wire.ConversationPage,
)
@web_route
async def list_conversations(request: Request, svc: Services, passport: Passport) -> Response:
    require_chat_app(passport.app)
    params = query(request, WebConversationsQuery)
    page = await web_conversations(svc).list(
        passport.end_user_id,
        pinned=params.pinned_filter,
        last_id=params.last_id,
        limit=params.limit,
        sort_by=params.sort_by,
    )
    return JSON(wire.conversations(page))


@describe("Rename a conversation", WEB_API, body=RenamePayload, response=wire.Conversation)
@web_route
async def rename_conversation(request: Request, svc: Services, passport: Passport) -> Response:
    require_chat_app(passport.app)
    conversation_id = _conversation_id(request)
    payload = validate(RenamePayload, await json_body(request, svc.max_json_body_bytes))
    name = payload.name.strip() if payload.name else None
    renamed = await svc.conversations.rename(
        passport.app, passport.end_user_id, conversation_id, name=name, auto_generate=payload.auto_generate
    )
    return JSON(wire.conversation(renamed))


@describe("Delete a conversation", WEB_API, status=204)
@web_route
async def delete_conversation(request: Request, svc: Services, passport: Passport) -> Response:
    require_chat_app(passport.app)
    await svc.conversations.delete(passport.end_user_id, _conversation_id(request))
    return no_content()


@describe("Pin a conversation", WEB_API, response=Success)
@web_route
async def pin_conversation(request: Request, svc: Services, passport: Passport) -> Response:
    require_chat_app(passport.app)
    await web_conversations(svc).pin(passport.end_user_id, _conversation_id(request))
    return JSON(SUCCESS)


@describe("Unpin a conversation", WEB_API, response=Success)
@web_route
async def unpin_conversation(request: Request, svc: Services, passport: Passport) -> Response:
    require_chat_app(passport.app)
    await web_conversations(svc).unpin(passport.end_user_id, _conversation_id(request))
    return JSON(SUCCESS)
