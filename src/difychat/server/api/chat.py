"""POST /chat-messages and POST /chat-messages/{task_id}/stop."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api import sse
from difychat.server.api.context import Services, authenticate, authenticate_turn
from difychat.server.api.parsing import json_body, user_of, validate
from difychat.server.api.responses import JSON, SUCCESS, error_response
from difychat.server.api.schemas import ChatRequestPayload
from difychat.server.api.wire.chat import blocking_answer
from difychat.server.api.wire.common import seconds
from difychat.server.domain.apps import App
from difychat.server.domain.events import GenerationFailed, MessageEnded
from difychat.server.errors import AppError, InvalidParam
from difychat.server.services.chat import ChatTurn


async def create_chat_message(request: Request) -> Response:
    svc, app, slot = await authenticate_turn(request)
    try:
        end_user_id, turn = await _read_turn(request, svc, app)
        started = await svc.chat.start(app, end_user_id, turn, slot)
    except BaseException:
        slot.release()
        raise
    generation = started.generation
    encoder = sse.EventEncoder(generation, seconds(generation.created_at), started.mode)

    if turn.response_mode == "streaming":
        # Wait briefly for the first event, so an upstream that fails at once is a JSON error.
        first = await sse.next_event(generation, svc.ping_interval)
        if isinstance(first, GenerationFailed):
            generation.detach()
            return _failure(first)
        return sse.EventStreamResponse(
            sse.event_stream(generation, encoder, first, svc.ping_interval),
            send_timeout=svc.stream_send_timeout,
        )

    event = await generation.ended()
    generation.detach()
    if isinstance(event, GenerationFailed):
        return _failure(event)
    assert isinstance(event, MessageEnded)
    return JSON(blocking_answer(generation, started.mode, event))


async def _read_turn(request: Request, svc: Services, app: App) -> tuple[str, ChatTurn]:
    data = await json_body(request, svc.max_json_body_bytes)
    end_user_id = await svc.end_users.resolve(app, user_of(data), required=True)
    payload = validate(ChatRequestPayload, data)
    query = payload.query.replace("\x00", "")
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


def _failure(event: GenerationFailed) -> Response:
    return error_response(AppError(event.message, code=event.code, status=event.status))


async def stop_chat_message(request: Request) -> Response:
    svc, app = await authenticate(request)
    data = await json_body(request, svc.max_json_body_bytes)
    end_user_id = await svc.end_users.resolve(app, user_of(data), required=True)
    await svc.stops.stop(app, end_user_id, request.path_params["task_id"])
    return JSON(SUCCESS)
