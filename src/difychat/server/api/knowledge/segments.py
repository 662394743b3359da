"""Segments: GET/POST …/documents/{document_id}/segments, GET/POST/DELETE …/segments/{segment_id}."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.context import services
from difychat.server.api.described import SEGMENTS, Param, Reply, describe
from difychat.server.api.ids import path_id
from difychat.server.api.knowledge.context import dataset_in_path, keyword, paging
from difychat.server.api.knowledge.schemas import PAGING, SegmentsCreate
from difychat.server.api.parsing import json_body, validate
from difychat.server.api.responses import JSON, no_content
from difychat.server.api.wire import knowledge as wire
from difychat.server.domain.knowledge import DatasetRecord, DocumentRecord
from difychat.server.errors import DOCUMENT_NOT_FOUND, SEGMENT_NOT_FOUND, InvalidParam, NotFound
from difychat.server.services.knowledge.bundle import Knowledge
from difychat.server.services.knowledge.segments import NewSegment

# Dify's own (non-standard) body for a missing ``segments``.
SEGMENTS_REQUIRED = Reply(
    400,
    shape={"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
    description='Without `segments`: `{"error": "Segments is required"}`.',
)
SEGMENT_CHANGES = {
    "type": "object",
    "properties": {
        "segment": {
            "type": "object",
            "description": "What changes: `content`, `answer`, `keywords`, `enabled`.",
        }
    },
    "required": ["segment"],
}


async def _document(request: Request) -> tuple[Knowledge, DatasetRecord, DocumentRecord]:
    found, _, dataset = await dataset_in_path(request)
    document_id = path_id(request, "document_id", NotFound, DOCUMENT_NOT_FOUND)
    return found, dataset, await found.segments.document(dataset.id, document_id)


@describe(
    "List a document's segments",
    SEGMENTS,
    query={**PAGING, "status": Param({"type": "array", "items": {"type": "string"}})},
    response=wire.SegmentPage,
)
async def list_segments(request: Request) -> Response:
    found, _, document = await _document(request)
    page, limit = paging(request)
    statuses = [s for s in request.query_params.getlist("status") if s.strip()]
    result = await found.segments.listing(
        document, page=page, limit=limit, statuses=statuses, keyword=keyword(request)
    )
    return JSON(wire.segment_page(result, document.doc_form))


@describe(
    "Add segments to a document",
    SEGMENTS,
    body=SegmentsCreate,
    response=wire.Segments,
    replies=(SEGMENTS_REQUIRED,),
)
async def create_segments(request: Request) -> Response:
    found, dataset, document = await _document(request)
    data = await json_body(request, services(request).max_json_body_bytes)
    if "segments" not in data:
        # Dify's own (non-standard) body for this one check.
        return JSON({"error": "Segments is required"}, status_code=400)
    body = validate(SegmentsCreate, data)
    items = [NewSegment(s.content, s.answer, s.keywords) for s in body.segments]
    created = await found.segments.add(dataset, document, items)
    return JSON(wire.segments(created, document.doc_form))


@describe("A segment", SEGMENTS, response=wire.OneSegment)
async def get_segment(request: Request) -> Response:
    found, _, document = await _document(request)
    segment_id = path_id(request, "segment_id", NotFound, SEGMENT_NOT_FOUND)
    return JSON(wire.one_segment(await found.segments.get(document, segment_id), document.doc_form))


@describe("Update a segment", SEGMENTS, body=SEGMENT_CHANGES, response=wire.OneSegment)
async def update_segment(request: Request) -> Response:
    found, dataset, document = await _document(request)
    segment_id = path_id(request, "segment_id", NotFound, SEGMENT_NOT_FOUND)
    data = await json_body(request, services(request).max_json_body_bytes)
    changes = data.get("segment")
    if not isinstance(changes, dict):
        raise InvalidParam("segment is required")
    updated = await found.segments.update(dataset, document, segment_id, changes)
    return JSON(wire.one_segment(updated, document.doc_form))


@describe("Delete a segment", SEGMENTS, status=204)
async def delete_segment(request: Request) -> Response:
    found, dataset, document = await _document(request)
    segment_id = path_id(request, "segment_id", NotFound, SEGMENT_NOT_FOUND)
    await found.segments.delete(dataset, document, segment_id)
    return no_content()
