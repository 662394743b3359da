"""GET /messages/{message_id}/suggested."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.context import authenticate
from difychat.server.api.described import MESSAGES, Param, describe
from difychat.server.api.ids import path_id
from difychat.server.api.modes import require_chat_app
from difychat.server.api.responses import JSON
from difychat.server.api.wire import messages as wire
from difychat.server.errors import MESSAGE_NOT_EXISTS, InvalidParam, NotFound


@describe(
    "Suggested questions after an answer",
    MESSAGES,
    query={"user": Param(required=True, description="The end user who asked.")},
    response=wire.SuggestedQuestions,
)
async def suggested_questions(request: Request) -> Response:
    svc, app = await authenticate(request)
    user = request.query_params.get("user")
    if not user:
        raise InvalidParam("Arg user must be provided.")
    require_chat_app(app)
    end_user_id = await svc.end_users.find(app, user)
    message_id = path_id(request, "message_id", NotFound, MESSAGE_NOT_EXISTS)
    questions = await svc.suggestions.suggest(app, end_user_id, message_id)
    return JSON(wire.suggested(questions))
