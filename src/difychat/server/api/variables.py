"""GET /conversations/{id}/variables and PUT /conversations/{id}/variables/{variable_id}."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.context import authenticate
from difychat.server.api.described import CONVERSATIONS, describe
from difychat.server.api.ids import path_id
from difychat.server.api.modes import require_chat_app
from difychat.server.api.parsing import json_body, query, user_of
from difychat.server.api.responses import JSON
from difychat.server.api.schemas import VariablesQuery
from difychat.server.api.wire import variables as wire
from difychat.server.errors import CONVERSATION_NOT_EXISTS, VARIABLE_NOT_EXISTS, InvalidParam, NotFound
from difychat.server.services.variables import check_name_filter


@describe(
    "List a conversation's variables",
    CONVERSATIONS,
    query=VariablesQuery,
    response=wire.VariablePage,
)
async def list_variables(request: Request) -> Response:
    svc, app = await authenticate(request)
    require_chat_app(app)
    params = query(request, VariablesQuery)
    name = check_name_filter(params.variable_name) if params.variable_name is not None else None
    end_user_id = await svc.end_users.find(app, params.user)
    conversation_id = path_id(request, "conversation_id", NotFound, CONVERSATION_NOT_EXISTS)
    page = await svc.variables.list(
        app, end_user_id, conversation_id, last_id=params.last_id, limit=params.limit, name_contains=name
    )
    return JSON(wire.variables_page(page))


@describe(
    "Set a conversation variable",
    CONVERSATIONS,
    description="`value` must fit the variable's type.",
    body={
        "type": "object",
        "properties": {"value": {"description": "The new value."}},
        "required": ["value"],
    },
    user="optional",
    response=wire.Variable,
)
async def update_variable(request: Request) -> Response:
    svc, app = await authenticate(request)
    data = await json_body(request, svc.max_json_body_bytes)
    end_user_id = await svc.end_users.find(app, user_of(data))
    require_chat_app(app)
    conversation_id = path_id(request, "conversation_id", NotFound, CONVERSATION_NOT_EXISTS)
    variable_id = path_id(request, "variable_id", NotFound, VARIABLE_NOT_EXISTS)
    if "value" not in data:
        raise InvalidParam("value is required")
    updated = await svc.variables.update(app, end_user_id, conversation_id, variable_id, data["value"])
    return JSON(wire.variable(updated))
