"""POST /files/upload, GET /files/{id}/preview, and the signed URL route outside /v1."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from difychat.server.api.context import Services, authenticate, services
from difychat.server.api.described import ANY_BYTES, FILES, SIGNED_FILES, Param, describe
from difychat.server.api.ids import path_id
from difychat.server.api.multipart import MultipartReader
from difychat.server.api.responses import JSON
from difychat.server.api.wire import files as wire
from difychat.server.domain.apps import App
from difychat.server.domain.values import parse_bool
from difychat.server.errors import (
    SIGNED_FILE_NOT_FOUND,
    FileNotFound,
    InvalidParam,
    NoFileUploaded,
    NotFound,
    TooManyFiles,
)
from difychat.server.services.files import FileBody, UploadName, is_html, is_streamable

FILE_PART = {"type": "string", "format": "binary", "description": "The file, with its name."}
USER_FIELD = {"type": "string", "description": "The end user who uploads it."}
UPLOAD_FORM = {"type": "object", "properties": {"file": FILE_PART, "user": USER_FIELD}, "required": ["file"]}
AS_ATTACHMENT = Param(
    {"type": "string", "enum": ["true", "false"]}, description="`true`: sent as a download (`false`)."
)
SIGNATURE = {
    "timestamp": Param(required=True, description="When the URL was signed (Unix seconds)."),
    "nonce": Param(required=True),
    "sign": Param(required=True, description="The URL's signature."),
    "as_attachment": AS_ATTACHMENT,
}


@describe(
    "Upload a file",
    FILES,
    description="One `file` part, to attach to a message by its id (`transfer_method: local_file`).",
    form=UPLOAD_FORM,
    response=wire.Upload,
    status=201,
)
async def upload_file(request: Request) -> Response:
    svc, app = await authenticate(request)

    async def owner(user: str | None) -> str:
        return await svc.end_users.resolve(app, user or None, required=False)

    return await receive_upload(request, svc, app, owner)


async def receive_upload(
    request: Request, svc: Services, app: App, owner: Callable[[str | None], Awaitable[str]]
) -> Response:
    """Store the request's one ``file`` part for the end user ``owner`` names (given the form's
    ``user`` field), and answer with its upload record."""
    files = svc.files
    try:
        reader = MultipartReader(request.headers.get("content-type", ""), request.stream().__aiter__())
    except ValueError:
        raise NoFileUploaded() from None
    user: str | None = None
    file_fields: set[str] = set()
    stored: tuple[str, str, int, str] | None = None
    name: UploadName | None = None
    try:
        while (part := await reader.next_part()) is not None:
            if part.filename is None:
                if part.name == "user" and user is None:
                    user = (await reader.read_field(4096)).decode("utf-8", "replace")
                continue
            file_fields.add(part.name)
            if "file" in file_fields and len(file_fields) > 1:
                raise TooManyFiles()
            if part.name == "file" and stored is None:
                name = files.check_name(part.filename, part.content_type)
                stored = await files.store(name, reader.data())
        if stored is None or name is None:
            raise NoFileUploaded()
        end_user_id = await owner(user)
        row = await files.record(app, end_user_id, *stored, name)
    except BaseException:
        if stored is not None:
            with contextlib.suppress(Exception):
                await files.discard(stored[1])
        raise
    return JSON(wire.upload(row, files.signer.preview_url), status_code=201)


def _as_attachment(request: Request) -> bool:
    value = request.query_params.get("as_attachment", "")
    if not value.strip():  # absent or empty: the default
        return False
    flag = parse_bool(value)
    if flag is None:
        raise InvalidParam("as_attachment must be a boolean")
    return flag


def file_response(body: FileBody, as_attachment: bool) -> Response:
    headers = {"Cache-Control": "public, max-age=3600"}
    media_type = body.mime_type or "application/octet-stream"
    if body.size > 0:
        headers["Content-Length"] = str(body.size)
    if is_streamable(body.mime_type):
        headers["Accept-Ranges"] = "bytes"
    html = is_html(body.name, body.mime_type)
    if as_attachment or html:
        headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(body.name, safe='')}"
        media_type = "application/octet-stream"
    if html:
        headers["X-Content-Type-Options"] = "nosniff"
    headers["Content-Type"] = media_type
    return StreamingResponse(body.chunks, headers=headers)


@describe(
    "Preview an upload",
    FILES,
    query={"as_attachment": AS_ATTACHMENT},
    media=ANY_BYTES,
    response_description="The file's bytes, as its type.",
)
async def preview_file(request: Request) -> Response:
    svc, app = await authenticate(request)
    file_id = path_id(request, "file_id", FileNotFound)
    as_attachment = _as_attachment(request)
    return file_response(await svc.files.preview(app, file_id), as_attachment)


@describe(
    "An upload by its signed URL",
    SIGNED_FILES,
    description="The URL a message's file or an upload's `source_url` gives; it expires.",
    query=SIGNATURE,
    media=ANY_BYTES,
    response_description="The file's bytes, as its type.",
)
async def signed_file(request: Request) -> Response:
    svc = services(request)
    as_attachment = _as_attachment(request)
    file_id = path_id(request, "file_id", NotFound, SIGNED_FILE_NOT_FOUND)
    params = request.query_params
    body = await svc.files.signed(
        file_id, params.get("timestamp", ""), params.get("nonce", ""), params.get("sign", "")
    )
    return file_response(body, as_attachment)
