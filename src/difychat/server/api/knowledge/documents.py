"""Documents: create and update by text or file, list, read, delete, switch in batch, and the
indexing status of a batch."""

from __future__ import annotations

import contextlib
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.context import services
from difychat.server.api.described import DOCUMENTS, Param, describe
from difychat.server.api.ids import path_id
from difychat.server.api.knowledge.context import dataset_in_path, keyword, paging
from difychat.server.api.knowledge.schemas import (
    DOCUMENT_FORM,
    PAGING,
    CreateByText,
    StatusBody,
    UpdateByText,
    options_of,
)
from difychat.server.api.multipart import MultipartReader
from difychat.server.api.parsing import decode_json, json_body, validate
from difychat.server.api.responses import JSON, SUCCESS, Success, no_content
from difychat.server.api.wire import knowledge as wire
from difychat.server.domain.knowledge import DatasetRecord
from difychat.server.domain.values import parse_uuid
from difychat.server.errors import (
    DOCUMENT_NOT_EXISTS,
    DOCUMENT_NOT_FOUND,
    BadRequest,
    InvalidAction,
    InvalidMetadata,
    InvalidParam,
    NoFileUploaded,
    NotFound,
    TooManyFiles,
)
from difychat.server.services.knowledge.bundle import Knowledge
from difychat.server.services.knowledge.documents import ACTIONS
from difychat.server.services.knowledge.uploads import StoredUpload, mime_of, upload_name

# The ``data`` part of a file upload (JSON options).
DATA_FIELD_LIMIT = 1024 * 1024


def _external(dataset: DatasetRecord) -> None:
    if dataset.provider == "external":
        raise InvalidParam("External datasets are not supported.")


@describe(
    "Create a document from text",
    DOCUMENTS,
    description="Indexed in the background: follow `batch` with the indexing status.",
    body=CreateByText,
    response=wire.DocumentSubmitted,
)
async def create_by_text(request: Request) -> Response:
    found, _, dataset = await dataset_in_path(request)
    _external(dataset)
    body = validate(CreateByText, await json_body(request, services(request).max_json_body_bytes))
    done = await found.documents.create_by_text(dataset, body.name, body.text, body.options())
    return JSON(wire.submitted(done.document, done.batch))


@describe(
    "Update a document's text",
    DOCUMENTS,
    description="A new text or name; a new text is indexed again.",
    body=UpdateByText,
    response=wire.DocumentSubmitted,
)
async def update_by_text(request: Request) -> Response:
    found, _, dataset = await dataset_in_path(request)
    document_id = path_id(request, "document_id", NotFound, DOCUMENT_NOT_FOUND)
    body = validate(UpdateByText, await json_body(request, services(request).max_json_body_bytes))
    done = await found.documents.update_by_text(dataset, document_id, body.name, body.text, body.options())
    return JSON(wire.submitted(done.document, done.batch))


async def _read_upload(
    request: Request, found: Knowledge, dataset: DatasetRecord, *, required: bool
) -> tuple[StoredUpload | None, dict[str, Any]]:
    """The ``file`` part streamed into storage (size-capped as it arrives) and the ``data`` JSON."""
    try:
        reader = MultipartReader(request.headers.get("content-type", ""), request.stream().__aiter__())
    except ValueError:
        if required:
            raise NoFileUploaded() from None
        return None, {}
    stored: StoredUpload | None = None
    data: dict[str, Any] = {}
    files = found.documents.files
    try:
        while (part := await reader.next_part()) is not None:
            if part.filename is None:
                if part.name == "data":
                    data = _data(await reader.read_field(DATA_FIELD_LIMIT))
                continue
            if stored is not None:
                raise TooManyFiles()
            if part.name != "file":
                continue
            name, extension = upload_name(part.filename)
            mime = mime_of(extension, part.content_type)
            stored = await files.store(dataset.id, name, extension, mime, reader.data())
        if stored is None and required:
            raise NoFileUploaded()
    except BaseException:
        if stored is not None:
            with contextlib.suppress(Exception):
                await files.discard(stored.storage_key)
        raise
    return stored, data


def _data(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        value = decode_json(raw)  # without NULs and not too deep, as every JSON body
    except BadRequest:
        raise InvalidParam("data must be a JSON object") from None
    if not isinstance(value, dict):
        raise InvalidParam("data must be a JSON object")
    return value


@describe(
    "Create a document from a file",
    DOCUMENTS,
    description="Text is extracted from the file (PDF, Word, Excel, HTML, Markdown, text, ...).",
    form=DOCUMENT_FORM,
    response=wire.DocumentSubmitted,
)
async def create_by_file(request: Request) -> Response:
    found, _, dataset = await dataset_in_path(request)
    _external(dataset)
    upload, data = await _read_upload(request, found, dataset, required=True)
    assert upload is not None
    try:
        options = options_of(data)
    except BaseException:
        await found.documents.files.discard(upload.storage_key)
        raise
    done = await found.documents.create_by_file(dataset, upload, options)
    return JSON(wire.submitted(done.document, done.batch))


@describe(
    "Update a document from a file",
    DOCUMENTS,
    form=DOCUMENT_FORM,
    body_required=False,
    response=wire.DocumentSubmitted,
)
async def update_by_file(request: Request) -> Response:
    found, _, dataset = await dataset_in_path(request)
    _external(dataset)
    document_id = path_id(request, "document_id", NotFound, DOCUMENT_NOT_FOUND)
    upload, data = await _read_upload(request, found, dataset, required=False)
    try:
        options = options_of(data)
    except BaseException:
        if upload is not None:
            await found.documents.files.discard(upload.storage_key)
        raise
    done = await found.documents.update_by_file(dataset, document_id, upload, options)
    return JSON(wire.submitted(done.document, done.batch))


@describe(
    "List a dataset's documents",
    DOCUMENTS,
    query={**PAGING, "status": Param(description="Only those with this display status.")},
    response=wire.DocumentPage,
)
async def list_documents(request: Request) -> Response:
    found, _, dataset = await dataset_in_path(request)
    page, limit = paging(request)
    status = (request.query_params.get("status") or "").strip() or None
    result = await found.documents.listing(
        dataset.id, page=page, limit=limit, keyword=keyword(request), status=status
    )
    return JSON(wire.numbered_page(result, wire.document))


@describe(
    "A document",
    DOCUMENTS,
    query={
        "metadata": Param(
            {"type": "string", "enum": ["all", "only", "without"], "default": "all"},
            description="`only`: just the id and metadata; `without`: all but the metadata.",
        )
    },
    response=wire.DocumentDetail | wire.DocumentMetadata,
)
async def get_document(request: Request) -> Response:
    found, _, dataset = await dataset_in_path(request)
    document_id = path_id(request, "document_id", NotFound, DOCUMENT_NOT_FOUND)
    metadata = request.query_params.get("metadata", "all")
    if metadata not in ("all", "only", "without"):
        raise InvalidMetadata(f"Invalid metadata value: {metadata}")
    view = await found.documents.get(dataset.id, document_id)
    return JSON(wire.document_detail(view, metadata))


@describe("Delete a document", DOCUMENTS, status=204)
async def delete_document(request: Request) -> Response:
    found, _, dataset = await dataset_in_path(request)
    document_id = path_id(request, "document_id", NotFound, DOCUMENT_NOT_EXISTS)
    await found.documents.delete(dataset.id, document_id)
    return no_content()


@describe(
    "Enable, disable, archive or restore documents",
    DOCUMENTS,
    path={"action": Param({"type": "string", "enum": list(ACTIONS)})},
    body=StatusBody,
    response=Success,
)
async def document_status(request: Request) -> Response:
    found, _, dataset = await dataset_in_path(request)
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise InvalidAction(f"Invalid action: {action}.")
    body = validate(StatusBody, await json_body(request, services(request).max_json_body_bytes))
    ids = [found_id for found_id in (parse_uuid(i) for i in body.document_ids) if found_id is not None]
    await found.documents.set_status(dataset.id, action, ids)
    return JSON(SUCCESS)


@describe(
    "The indexing status of a batch",
    DOCUMENTS,
    path={"batch": Param(description="The `batch` a create or update answered with.")},
    response=wire.IndexingStatus,
)
async def indexing_status(request: Request) -> Response:
    found, _, dataset = await dataset_in_path(request)
    views = await found.documents.indexing_status(dataset.id, request.path_params["batch"])
    return JSON(wire.indexing_status(views))
