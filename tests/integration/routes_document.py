"""A minimal OpenAPI 3.1 document of the server's own routes, for the fuzz test.

The server publishes none. This one is made from the route table (every route, every method, its
path parameters) and the request models of ``api/schemas.py`` (their pydantic JSON schemas), so a
route added to the table is fuzzed without more ado: one this module knows nothing about gets its
path parameters, a ``user`` query parameter and, for a method with a body, any JSON object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.routing import BaseRoute, Mount, Route

from difychat.server.api import schemas
from difychat.server.api.knowledge import schemas as knowledge
from difychat.server.api.routes import build_routes

USER = {"type": "string"}
ANY_OBJECT: dict[str, Any] = {"type": "object"}


@dataclass(frozen=True)
class Request:
    """What one operation reads besides its path: a JSON body, query parameters, a form."""

    body: type[BaseModel] | dict[str, Any] | None = None
    query: type[BaseModel] | dict[str, Any] | None = None
    form: dict[str, Any] | None = None
    # ``user`` read from the JSON body beside the model (``user_of``): "required", "optional" or None.
    body_user: str | None = None


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or []}


SIGNED = _object({"timestamp": USER, "nonce": USER, "sign": USER, "as_attachment": USER})
USER_ONLY = _object({"user": USER})
AUDIO_FORM = _object({"file": {"type": "string", "format": "binary"}, "user": USER}, ["file"])
PAGE = _object({"page": {"type": "integer"}, "limit": {"type": "integer"}, "keyword": USER})

# (method, path) -> what it reads; the paths as the route table writes them.
REQUESTS: dict[tuple[str, str], Request] = {
    ("POST", "/v1/chat-messages"): Request(body=schemas.ChatRequestPayload, body_user="required"),
    ("POST", "/v1/chat-messages/{task_id}/stop"): Request(body=_object({"user": USER}, ["user"])),
    ("GET", "/v1/messages"): Request(query=schemas.MessagesQuery),
    ("POST", "/v1/messages/{message_id}/feedbacks"): Request(
        body=schemas.FeedbackPayload, body_user="required"
    ),
    ("GET", "/v1/messages/{message_id}/suggested"): Request(query=_object({"user": USER}, ["user"])),
    ("GET", "/v1/app/feedbacks"): Request(query=schemas.FeedbacksQuery),
    ("POST", "/v1/files/upload"): Request(form=AUDIO_FORM),
    ("GET", "/v1/files/{file_id}/preview"): Request(query=_object({"as_attachment": USER, "user": USER})),
    ("GET", "/v1/conversations"): Request(query=schemas.ConversationsQuery),
    ("POST", "/v1/audio-to-text"): Request(form=AUDIO_FORM),
    ("POST", "/v1/text-to-audio"): Request(body=schemas.TextToAudioPayload, body_user="optional"),
    ("GET", "/v1/apps/annotations"): Request(query=schemas.AnnotationsQuery),
    ("POST", "/v1/apps/annotations"): Request(body=schemas.AnnotationPayload),
    ("PUT", "/v1/apps/annotations/{annotation_id}"): Request(body=schemas.AnnotationPayload),
    ("DELETE", "/v1/apps/annotations/{annotation_id}"): Request(),
    ("POST", "/v1/apps/annotation-reply/{action}"): Request(body=schemas.AnnotationReplyPayload),
    ("GET", "/v1/apps/annotation-reply/{action}/status/{job_id}"): Request(),
    ("DELETE", "/v1/conversations/{conversation_id}"): Request(body=USER_ONLY),
    ("POST", "/v1/conversations/{conversation_id}/name"): Request(
        body=schemas.RenamePayload, body_user="optional"
    ),
    ("GET", "/v1/conversations/{conversation_id}/variables"): Request(query=schemas.VariablesQuery),
    ("PUT", "/v1/conversations/{conversation_id}/variables/{variable_id}"): Request(
        body=_object({"value": {}, "user": USER}, ["value"])
    ),
    ("POST", "/v1/datasets"): Request(body=knowledge.DatasetCreate),
    ("GET", "/v1/datasets"): Request(query=PAGE),
    ("GET", "/v1/datasets/{dataset_id}/documents"): Request(query=PAGE),
    ("GET", "/v1/datasets/{dataset_id}/documents/{document_id}/segments"): Request(query=PAGE),
    ("POST", "/v1/datasets/{dataset_id}/document/create-by-text"): Request(body=knowledge.CreateByText),
    ("POST", "/v1/datasets/{dataset_id}/documents/{document_id}/update-by-text"): Request(
        body=knowledge.UpdateByText
    ),
    ("POST", "/v1/datasets/{dataset_id}/documents/{document_id}/segments"): Request(
        body=knowledge.SegmentsCreate
    ),
    ("PATCH", "/v1/datasets/{dataset_id}/documents/status/{action}"): Request(body=knowledge.StatusBody),
    ("GET", "/files/{file_id}/file-preview"): Request(query=SIGNED),
    ("GET", "/files/tools/{name}"): Request(query=SIGNED),
}


def routes_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path in _operations(build_routes()):
        request = REQUESTS.get((method, path)) or _default(method)
        paths.setdefault(path, {})[method.lower()] = _operation(path, request)
    return {"openapi": "3.1.0", "info": {"title": "difychat routes", "version": "1"}, "paths": paths}


def _operations(routes: list[BaseRoute], prefix: str = "") -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for route in routes:
        if isinstance(route, Mount):
            found += _operations(list(route.routes), prefix + route.path)
        elif isinstance(route, Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    found.append((method, prefix + route.path))
    return found


def _default(method: str) -> Request:
    with_body = method in ("POST", "PUT", "PATCH")
    return Request(body=ANY_OBJECT if with_body else None, query=_object({"user": USER}))


def _schema(source: type[BaseModel] | dict[str, Any]) -> dict[str, Any]:
    return source if isinstance(source, dict) else source.model_json_schema(ref_template="#/$defs/{model}")


def _operation(path: str, request: Request) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{(\w+)\}", path)
    ]
    if request.query is not None:
        query = _schema(request.query)
        required = set(query.get("required", []))
        for name, schema in query["properties"].items():
            parameters.append(
                {"name": name, "in": "query", "required": name in required, "schema": _not_null(schema)}
            )
    operation: dict[str, Any] = {"parameters": parameters, "responses": {"default": {"description": "any"}}}
    if request.body is not None:
        body = dict(_schema(request.body))
        if request.body_user is not None:
            body["properties"] = {**body.get("properties", {}), "user": USER}
            if request.body_user == "required":
                body["required"] = [*body.get("required", []), "user"]
        content = {"application/json": {"schema": body}}
        operation["requestBody"] = {"required": True, "content": content}
    elif request.form is not None:
        content = {"multipart/form-data": {"schema": request.form}}
        operation["requestBody"] = {"required": True, "content": content}
    return operation


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query string has no null: ``anyOf [X, null]`` is X there."""
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if len(options) == 1:
        return {**{k: v for k, v in schema.items() if k != "anyOf"}, **options[0]}
    return schema
