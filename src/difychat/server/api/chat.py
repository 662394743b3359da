"""POST /chat-messages and POST /chat-messages/{task_id}/stop."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.answers import respond
from difychat.server.api.context import Services, authenticate, authenticate_turn
from difychat.server.api.described import CHAT, describe
from difychat.server.api.modes import require_chat_app
from difychat.server.api.parsing import json_body, user_of, validate
from difychat.server.api.responses import JSON, SUCCESS, Success
from difychat.server.api.schemas import ChatRequestPayload
from difychat.server.api.wire.chat import ChatAnswer
from difychat.server.domain.apps import App
from difychat.server.errors import InvalidParam
from difychat.server.services.chat import ChatTurn


@describe(
    "Send a chat message",
    CHAT,
    description="A turn of a chat or agent app: a new conversation without `conversation_id`. "
    "`response_mode` `blocking` (the default) answers once the answer ends; `streaming` sends it "
    "as server-sent events.",
    body=ChatRequestPayload,
    user="required",
    response=ChatAnswer,
    streams=True,
)
async def create_chat_message(request: Request) -> Response:
    svc, app, slot = await authenticate_turn(request)
    try:
        end_user_id, turn = await _read_turn(request, svc, app)
        started = await svc.chat.start(app, end_user_id, turn, slot)
    except BaseException:
        slot.release()
        raise
    return await respond(svc, started, turn.response_mode)


async def _read_turn(request: Request, svc: Services, app: App) -> tuple[str, ChatTurn]:
    data = await json_body(request, svc.max_json_body_bytes)
    end_user_id = await svc.end_users.resolve(app, user_of(data), required=True)
    require_chat_app(app)
    payload = validate(ChatRequestPayload, data)
    query = payload.query  # without NULs, as every text read by json_body
    if not query:
        raise InvalidParam("query is required")
    turn = ChatTurn(
        query=query,
        inputs=payload.inputs,
        response_mode=payload.response_mode or "blocking",
        conversation_id=payload.conversation_id,
        auto_generate_name=payload.auto_generate_name,
        files=payload.files,
    )
    return end_user_id, turn


@describe(
    "Stop an answer",
    CHAT,
    description="Stops the end user's own streamed answer; the partial answer is saved.",
    user="required",
    response=Success,
)
async def stop_chat_message(request: Request) -> Response:
    svc, app = await authenticate(request)
    data = await json_body(request, svc.max_json_body_bytes)
    end_user_id = await svc.end_users.resolve(app, user_of(data), required=True)
    require_chat_app(app)
    await svc.stops.stop(app, end_user_id, request.path_params["task_id"])
    return JSON(SUCCESS)
