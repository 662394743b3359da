"""Annotations (``/apps/annotations``) and annotation reply (``/apps/annotation-reply``)."""

from __future__ import annotations

from typing import Literal, cast

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.context import authenticate
from difychat.server.api.described import ANNOTATIONS, Param, describe
from difychat.server.api.ids import path_id
from difychat.server.api.parsing import json_body, query, validate
from difychat.server.api.responses import JSON, no_content
from difychat.server.api.schemas import AnnotationPayload, AnnotationReplyPayload, AnnotationsQuery
from difychat.server.api.wire import annotations as wire
from difychat.server.errors import ANNOTATION_NOT_FOUND, JOB_NOT_EXISTS, InvalidParam, NotFound

ACTIONS = ("enable", "disable")
ACTION = {"action": Param({"type": "string", "enum": list(ACTIONS)})}


@describe("List annotations", ANNOTATIONS, query=AnnotationsQuery, response=wire.AnnotationPage)
async def list_annotations(request: Request) -> Response:
    svc, app = await authenticate(request)
    params = query(request, AnnotationsQuery)
    found = await svc.annotations.list_page(app, page=params.page, limit=params.limit, keyword=params.keyword)
    return JSON(wire.annotation_page(found))


@describe("Create an annotation", ANNOTATIONS, body=AnnotationPayload, response=wire.Annotation, status=201)
async def create_annotation(request: Request) -> Response:
    svc, app = await authenticate(request)
    payload = validate(AnnotationPayload, await json_body(request, svc.max_json_body_bytes))
    created = await svc.annotations.create(app, payload.question, payload.answer)
    return JSON(wire.annotation(created), status_code=201)


@describe("Update an annotation", ANNOTATIONS, body=AnnotationPayload, response=wire.Annotation)
async def update_annotation(request: Request) -> Response:
    svc, app = await authenticate(request)
    annotation_id = path_id(request, "annotation_id", NotFound, ANNOTATION_NOT_FOUND)
    payload = validate(AnnotationPayload, await json_body(request, svc.max_json_body_bytes))
    updated = await svc.annotations.update(app, annotation_id, payload.question, payload.answer)
    return JSON(wire.annotation(updated))


@describe("Delete an annotation", ANNOTATIONS, status=204)
async def delete_annotation(request: Request) -> Response:
    svc, app = await authenticate(request)
    annotation_id = path_id(request, "annotation_id", NotFound, ANNOTATION_NOT_FOUND)
    await svc.annotations.delete(app, annotation_id)
    return no_content()


def _action(request: Request) -> Literal["enable", "disable"]:
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise InvalidParam(f"Unsupported annotation reply action {action!r}; use 'enable' or 'disable'.")
    return cast(Literal["enable", "disable"], action)


@describe(
    "Switch annotation reply on or off",
    ANNOTATIONS,
    description="Starts a job that embeds the annotations; its status tells when it is done.",
    path=ACTION,
    body=AnnotationReplyPayload,
    response=wire.AnnotationJobStarted,
)
async def annotation_reply(request: Request) -> Response:
    svc, app = await authenticate(request)
    action = _action(request)
    payload = validate(AnnotationReplyPayload, await json_body(request, svc.max_json_body_bytes))
    job_id, status = await svc.annotations.start_job(
        app,
        action,
        score_threshold=payload.score_threshold,
        provider_name=payload.embedding_provider_name,
        model_name=payload.embedding_model_name,
    )
    return JSON(wire.job_started(job_id, status))


@describe(
    "The status of an annotation reply job",
    ANNOTATIONS,
    path=ACTION,
    response=wire.AnnotationJobStatus,
)
async def annotation_reply_status(request: Request) -> Response:
    svc, app = await authenticate(request)
    # An unknown job is a 400 in the contract, and so is a malformed job id.
    job_id = path_id(request, "job_id", InvalidParam, JOB_NOT_EXISTS)
    job = await svc.annotations.job_status(app, request.path_params["action"], job_id)
    return JSON(wire.job_status(job))
