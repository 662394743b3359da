"""GET /files/tools/<tool file id><.ext>: a file an agent's tool made, by its signed URL (outside /v1)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.context import services
from difychat.server.api.described import ANY_BYTES, SIGNED_FILES, Param, describe
from difychat.server.api.files import SIGNATURE, file_response
from difychat.server.domain.values import parse_bool
from difychat.server.errors import AppError, InvalidParam


@describe(
    "A file an agent's tool made, by its signed URL",
    SIGNED_FILES,
    path={"name": Param(description="The tool file's id and extension.")},
    query=SIGNATURE,
    media=ANY_BYTES,
    response_description="The file's bytes, as its type.",
)
async def tool_file(request: Request) -> Response:
    svc = services(request)
    params = request.query_params
    flag = params.get("as_attachment", "").strip()
    as_attachment = parse_bool(flag) if flag else False
    if as_attachment is None:
        raise InvalidParam("as_attachment must be a boolean")
    if svc.agents is None:
        raise AppError("File not found.", code="unsupported_file_type", status=415)
    body = await svc.agents.files.signed(
        request.path_params["name"],
        params.get("timestamp", ""),
        params.get("nonce", ""),
        params.get("sign", ""),
    )
    return file_response(body, as_attachment)
