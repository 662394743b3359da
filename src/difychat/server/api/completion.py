"""POST /completion-messages and POST /completion-messages/{task_id}/stop (completion apps)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.answers import respond
from difychat.server.api.context import Services, authenticate, authenticate_turn
from difychat.server.api.described import COMPLETION, describe
from difychat.server.api.modes import require_completion_app
from difychat.server.api.parsing import json_body, user_of, validate
from difychat.server.api.responses import JSON, SUCCESS, Success
from difychat.server.api.schemas import CompletionRequestPayload
from difychat.server.api.wire.chat import CompletionAnswer
from difychat.server.domain.apps import App
from difychat.server.services.completion import CompletionTurn


@describe(
    "Send a completion request",
    COMPLETION,
    description="One answer of a completion app from its `inputs`, blocking or streamed.",
    body=CompletionRequestPayload,
    user="required",
    response=CompletionAnswer,
    streams=True,
)
async def create_completion_message(request: Request) -> Response:
    svc, app, slot = await authenticate_turn(request)
    try:
        end_user_id, turn = await _read_turn(request, svc, app)
        started = await svc.completion.start(app, end_user_id, turn, slot)
    except BaseException:
        slot.release()
        raise
    return await respond(svc, started, turn.response_mode)


async def _read_turn(request: Request, svc: Services, app: App) -> tuple[str, CompletionTurn]:
    data = await json_body(request, svc.max_json_body_bytes)
    end_user_id = await svc.end_users.resolve(app, user_of(data), required=True)
    require_completion_app(app)
    payload = validate(CompletionRequestPayload, data)
    turn = CompletionTurn(
        inputs=payload.inputs,
        response_mode=payload.response_mode or "blocking",
        query=payload.query,
        files=payload.files,
    )
    return end_user_id, turn


@describe("Stop a completion", COMPLETION, user="required", response=Success)
async def stop_completion_message(request: Request) -> Response:
    svc, app = await authenticate(request)
    data = await json_body(request, svc.max_json_body_bytes)
    end_user_id = await svc.end_users.resolve(app, user_of(data), required=True)
    require_completion_app(app)
    await svc.stops.stop(app, end_user_id, request.path_params["task_id"])
    return JSON(SUCCESS)
