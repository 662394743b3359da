"""POST /api/chat-messages and POST /api/chat-messages/{task_id}/stop, for the passport's end user."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.answers import respond
from difychat.server.api.context import Services
from difychat.server.api.described import WEB_API, describe
from difychat.server.api.modes import require_chat_app
from difychat.server.api.parsing import json_body, validate
from difychat.server.api.responses import JSON, SUCCESS, Success
from difychat.server.api.schemas import ChatRequestPayload
from difychat.server.api.web.context import sites, web_route
from difychat.server.api.wire.chat import ChatAnswer
from difychat.server.errors import InvalidParam
from difychat.server.services.chat import ChatTurn
from difychat.server.services.web_sites import Passport


@describe(
    "Send a chat message",
    WEB_API,
    description="As `POST /v1/chat-messages`, for the passport's visitor (no `user`).",
    body=ChatRequestPayload,
    response=ChatAnswer,
    streams=True,
)
@web_route
async def create_chat_message(request: Request, svc: Services, passport: Passport) -> Response:
    app = passport.app
    require_chat_app(app)
    payload = validate(ChatRequestPayload, await json_body(request, svc.max_json_body_bytes))
    if not payload.query:
        raise InvalidParam("query is required")
    # The page names a new conversation itself (rename with auto_generate) once the answer is in.
    turn = ChatTurn(
        query=payload.query,
        inputs=payload.inputs,
        response_mode=payload.response_mode or "blocking",
        conversation_id=payload.conversation_id,
        auto_generate_name=False,
        files=payload.files,
    )
    slot = await sites(svc).admit_turn(app)
    try:
        started = await svc.chat.start(app, passport.end_user_id, turn, slot)
    except BaseException:
        slot.release()
        raise
    return await respond(svc, started, turn.response_mode)


@describe("Stop an answer", WEB_API, response=Success)
@web_route
async def stop_chat_message(request: Request, svc: Services, passport: Passport) -> Response:
    require_chat_app(passport.app)
    await svc.stops.stop(passport.app, passport.end_user_id, request.path_params["task_id"])
    return JSON(SUCCESS)
