"""POST /mcp/server/{server_code}/mcp: an app as an MCP server (see ``services/mcp_server.py``)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.context import services
from difychat.server.api.described import MCP, Param, describe
from difychat.server.api.parsing import decode_json, read_body
from difychat.server.api.responses import JSON
from difychat.server.errors import BadRequest
from difychat.server.services.mcp_server import SESSION_HEADER, McpServerService


@describe(
    "An MCP message to an app",
    MCP,
    description="JSON-RPC over Streamable HTTP: the app is one tool. The URL's code is the secret; "
    "an app key is accepted as well. Errors are JSON-RPC errors.",
    path={"server_code": Param(description="The app's MCP server code (`difychat mcp url`).")},
    body={"type": "object", "description": "A JSON-RPC message."},
    response={"type": "object", "description": "The JSON-RPC reply."},
    errors=False,
    optional_key=True,
)
async def mcp_message(request: Request) -> Response:
    body = await read_body(request, services(request).max_json_body_bytes)
    message: Any
    try:
        message = decode_json(body)  # without NULs and not too deep, as every JSON body
    except BadRequest:
        message = None
    server: McpServerService | None = getattr(request.app.state, "mcp_server", None)
    if server is None:
        return JSON(
            {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Server Not Found"}}, 404
        )
    reply = await server.handle(
        request.path_params["server_code"],
        message,
        authorization=request.headers.get("authorization"),
        session=request.headers.get(SESSION_HEADER),
    )
    if reply.body is None:
        return Response(status_code=reply.status, headers=reply.headers)
    return JSON(reply.body, status_code=reply.status, headers=reply.headers)
