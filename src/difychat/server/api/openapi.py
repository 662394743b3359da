"""The server's OpenAPI 3.1 document, built from the route table and each handler's ``@describe``.

``GET /v1/openapi.json`` serves it (no key needed), built once per app. Paths, methods and path
parameters come from the Starlette routes; bodies, query parameters and answers from the
descriptions (``api/described.py``), whose pydantic models and ``TypedDict``s become the schemas
under ``components``. The key a route needs follows from its path (``SECURITY``).

``python -m difychat.server.api.openapi`` prints the document; with ``--markdown``, the reference
made from it (``docs/api.md``, kept up to date by a test).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import core_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from difychat._version import __version__
from difychat.server.api import described as d
from difychat.server.api.described import Operation, Param, Reply, describe, described
from difychat.server.api.responses import JSON_MEDIA_TYPE, ErrorBody

TAGS: dict[str, str] = {
    d.SERVER: "What the server says about itself.",
    d.CHAT: "Chat and agent apps: send a message, blocking or streamed, and stop an answer.",
    d.COMPLETION: "Completion apps: one answer per request, no conversation.",
    d.MESSAGES: "A conversation's history, feedback and suggested follow-up questions.",
    d.CONVERSATIONS: "An end user's conversations and their variables.",
    d.FILES: "Uploads to attach to a message, and their previews.",
    d.AUDIO_TAG: "Speech to text and text to speech.",
    d.ANNOTATIONS: "Question-and-answer pairs that can answer instead of the model.",
    d.APP: "What an app says about itself: its form, features, site and end users.",
    d.DATASETS: "The Knowledge API (``dataset-`` keys): datasets.",
    d.DOCUMENTS: "Documents of a dataset, from text or a file, and their indexing.",
    d.SEGMENTS: "The chunks a document is split into.",
    d.RETRIEVAL: "Searching a dataset.",
    d.KNOWLEDGE_TAGS: "Tags shared by the workspace's datasets, and which datasets carry them.",
    d.KNOWLEDGE_METADATA: "A dataset's metadata fields and the values its documents carry.",
    d.WEB_API: "What the web chat page calls (``/api``), with a passport instead of a key.",
    d.WEB_PAGES: "The web chat pages and the embed script.",
    d.MCP: "An app as an MCP server (Streamable HTTP, JSON-RPC).",
    d.SIGNED_FILES: "Files behind signed URLs: uploads and files an agent's tools made.",
}

SECURITY_SCHEMES: dict[str, Any] = {
    "AppKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "An app's API key, `app-...`, as `Authorization: Bearer app-...`.",
    },
    "DatasetKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "A Knowledge API key, `dataset-...`, as `Authorization: Bearer dataset-...`.",
    },
    "Passport": {
        "type": "http",
        "scheme": "bearer",
        "description": "A web page's passport from `GET /api/passport`, as a bearer token, as "
        "`X-App-Passport`, or as the page's `passport-<code>` cookie.",
    },
    "AppCode": {
        "type": "apiKey",
        "in": "header",
        "name": "X-App-Code",
        "description": "The site code of the app's web page, sent with the passport.",
    },
}

# The key a route needs, by the first prefix its path starts with; other paths need none.
SECURITY: tuple[tuple[str, list[dict[str, list[str]]]], ...] = (
    ("/v1/datasets", [{"DatasetKey": []}]),
    ("/v1/", [{"AppKey": []}]),
    ("/api/", [{"Passport": [], "AppCode": []}]),
)

ERROR_RESPONSE = "Error"
_TEXT = {"type": "string"}
_STREAM = (
    "Server-sent events, `data: <JSON>` each: `message` (or `agent_message`) text deltas, "
    "`agent_thought`, `message_file`, `message_replace`, `tts_message`, `tts_message_end`, then "
    "`message_end` with the metadata, or `error`; `event: ping` after a silence."
)
_UUID = {"type": "string", "format": "uuid"}
_PATH_PARAMETER = re.compile(r"\{(\w+)(?::\w+)?\}")


def operations(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str, Route]]:
    """``(path, method, route)`` for each route in the table, HEAD and unlisted routes left out."""
    for route in routes:
        if isinstance(route, Mount) and route.routes:
            yield from operations(route.routes, prefix + route.path)
        elif isinstance(route, Route) and route.include_in_schema:
            path = _PATH_PARAMETER.sub(r"{\1}", prefix + route.path)
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield path, method, route


class _Generator(GenerateJsonSchema):
    """Pydantic's schemas without a title on every property, and response shapes closed: a wire
    ``TypedDict`` lists every key its serialiser writes."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def typed_dict_schema(self, schema: core_schema.TypedDictSchema) -> JsonSchemaValue:
        found = super().typed_dict_schema(schema)
        found.setdefault("additionalProperties", False)
        return found


@dataclass
class _Shapes:
    """Every shape the document uses, turned into schemas together so they share ``components``."""

    wanted: list[tuple[object, JsonSchemaMode, dict[str, Any]]] = field(default_factory=list)

    def schema(self, shape: object, mode: JsonSchemaMode) -> dict[str, Any]:
        """A schema for ``shape``: filled in by ``resolve`` (a dict shape is its own schema)."""
        if shape is None:
            return {}
        if isinstance(shape, dict):
            return dict(shape)
        placeholder: dict[str, Any] = {}
        self.wanted.append((shape, mode, placeholder))
        return placeholder

    def resolve(self) -> dict[str, Any]:
        """Fill every placeholder; the named schemas, for ``components``."""
        adapters: list[tuple[int, JsonSchemaMode, TypeAdapter[Any]]] = [
            (index, mode, TypeAdapter(cast(Any, shape))) for index, (shape, mode, _) in enumerate(self.wanted)
        ]
        found, named = TypeAdapter.json_schemas(
            adapters, ref_template="#/components/schemas/{model}", schema_generator=_Generator
        )
        for index, (_, mode, placeholder) in enumerate(self.wanted):
            placeholder.update(found[(index, mode)])
        return dict(named.get("$defs", {}))


def build_document(routes: Sequence[BaseRoute], version: str = __version__) -> dict[str, Any]:
    """The OpenAPI document of ``routes``; a route whose handler has no description is an error."""
    shapes = _Shapes()
    paths: dict[str, dict[str, Any]] = {}
    for path, method, route in operations(routes):
        operation = described(route.endpoint)
        if operation is None:
            raise LookupError(f"{method} {path} ({route.endpoint.__qualname__}) has no @describe")
        paths.setdefault(path, {})[method.lower()] = _operation(path, method, operation, shapes)
    _unique_ids(paths)
    used = {item["tags"][0] for item in _each_operation(paths)}
    schemas = shapes.resolve()
    schemas[ERROR_RESPONSE] = TypeAdapter(ErrorBody).json_schema(schema_generator=_Generator)
    schemas = dict(sorted(schemas.items()))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "difychat",
            "version": version,
            "description": "Dify's service API (`/v1`), its Knowledge API, and what difychat serves "
            "besides: the web chat page's `/api`, apps as MCP servers, signed file URLs.",
        },
        "tags": [{"name": name, "description": text} for name, text in TAGS.items() if name in used],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                ERROR_RESPONSE: {
                    "description": "The contract's error body.",
                    "content": {"application/json": {"schema": _ref(ERROR_RESPONSE)}},
                }
            },
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def _each_operation(paths: dict[str, dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in paths.values():
        yield from item.values()


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _operation(path: str, method: str, op: Operation, shapes: _Shapes) -> dict[str, Any]:
    found: dict[str, Any] = {
        "operationId": _operation_id(method, path),
        "summary": op.summary,
        "tags": [op.tag],
    }
    if op.description:
        found["description"] = op.description
    parameters = _path_parameters(path, op) + _query_parameters(op)
    if parameters:
        found["parameters"] = parameters
    body = _request_body(op, shapes)
    if body is not None:
        found["requestBody"] = body
    found["responses"] = _responses(op, shapes)
    found["security"] = _security(path, op)
    return found


def _operation_id(method: str, path: str) -> str:
    return method.lower() + "_" + "_".join(re.findall(r"[A-Za-z0-9]+", path))


def _unique_ids(paths: dict[str, dict[str, Any]]) -> None:
    """A second spelling of a path (``create_by_text`` beside ``create-by-text``) gets ``_2``."""
    seen: dict[str, int] = {}
    for operation in _each_operation(paths):
        found = operation["operationId"]
        seen[found] = seen.get(found, 0) + 1
        if seen[found] > 1:
            operation["operationId"] = f"{found}_{seen[found]}"


def _parameter(name: str, where: str, param: Param) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "in": where, "required": param.required or where == "path"}
    if param.description:
        found["description"] = param.description
    found["schema"] = dict(param.schema)
    return found


def _path_parameters(path: str, op: Operation) -> list[dict[str, Any]]:
    """Every path parameter; one named ``..._id`` is a UUID unless the description says otherwise."""
    found = []
    for name in re.findall(r"\{(\w+)\}", path):
        param = op.path.get(name) or Param(_UUID if name.endswith("_id") else _TEXT)
        found.append(_parameter(name, "path", param))
    return found


def _query_parameters(op: Operation) -> list[dict[str, Any]]:
    if op.query is None:
        return []
    if not isinstance(op.query, type):
        return [_parameter(name, "query", param) for name, param in op.query.items()]
    return [_parameter(name, "query", param) for name, param in query_params(op.query).items()]


def query_params(model: type[BaseModel]) -> dict[str, Param]:
    """A query model's fields as parameters; a query string has no null, so ``X | None`` is X."""
    schema = model.model_json_schema(schema_generator=_Generator)
    if "$defs" in schema:
        raise ValueError(f"{model.__name__}: a query model's fields must be plain values")
    required = set(schema.get("required", ()))
    found = {}
    for name, field_schema in schema.get("properties", {}).items():
        options = [s for s in field_schema.get("anyOf", []) if s.get("type") != "null"]
        if len(options) == 1:
            rest = {k: v for k, v in field_schema.items() if k != "anyOf"}
            field_schema = {**options[0], **rest}
        if field_schema.get("default", 0) is None:
            del field_schema["default"]
        description = field_schema.pop("description", "")
        found[name] = Param(field_schema, name in required, description)
    return found


_USER = {"type": "string", "description": "The end user: any identifier, unique within the app."}


def _request_body(op: Operation, shapes: _Shapes) -> dict[str, Any] | None:
    if op.form is not None:
        schema = shapes.schema(op.form, "validation")
        return {"required": op.body_required, "content": {"multipart/form-data": {"schema": schema}}}
    if op.body is None and op.user is None:
        return None
    schema = shapes.schema(op.body, "validation") if op.body is not None else {"type": "object"}
    if op.user is not None:
        user: dict[str, Any] = {"type": "object", "properties": {"user": _USER}}
        if op.user == "required":
            user["required"] = ["user"]
        schema = {"allOf": [schema, user]}
    return {"required": op.body_required, "content": {"application/json": {"schema": schema}}}


def _content(media: str, shape: object, shapes: _Shapes) -> dict[str, Any]:
    if media == d.JSON:
        return {"schema": shapes.schema(shape, "serialization")}
    if media in (d.EVENT_STREAM, d.HTML, d.JAVASCRIPT):
        return {"schema": dict(_TEXT)}
    return {}  # bytes


def _responses(op: Operation, shapes: _Shapes) -> dict[str, Any]:
    main: dict[str, Any] = {"description": op.response_description or _STATUS_TEXT.get(op.status, "")}
    if op.status != 204:
        main["content"] = {op.media: _content(op.media, op.response, shapes)}
        if op.streams:
            main["content"][d.EVENT_STREAM] = {"schema": {"type": "string", "description": _STREAM}}
            main["description"] += " Blocking: the JSON answer; streaming: server-sent events."
    found: dict[str, Any] = {str(op.status): main}
    for reply in op.replies:
        _add_reply(found, reply, op, shapes)
    if op.errors:
        found["4XX"] = {"$ref": f"#/components/responses/{ERROR_RESPONSE}"}
        found["5XX"] = {"$ref": f"#/components/responses/{ERROR_RESPONSE}"}
    return found


def _add_reply(found: dict[str, Any], reply: Reply, op: Operation, shapes: _Shapes) -> None:
    content = _content(reply.media, reply.shape, shapes)
    if op.errors and reply.status >= 400 and reply.media == d.JSON:
        content = {"schema": {"anyOf": [_ref(ERROR_RESPONSE), content["schema"]]}}
    entry = found.setdefault(
        str(reply.status), {"description": reply.description or _STATUS_TEXT.get(reply.status, "")}
    )
    if reply.description and entry["description"] != reply.description:
        entry["description"] = f"{entry['description']} {reply.description}".strip()
    entry.setdefault("content", {})[reply.media] = content


_STATUS_TEXT = {
    200: "OK.",
    201: "Created.",
    204: "Done; no body.",
    400: "Bad request.",
    404: "Not found.",
}


def _security(path: str, op: Operation) -> list[dict[str, list[str]]]:
    if op.public:
        return []
    needed = next((schemes for prefix, schemes in SECURITY if path.startswith(prefix)), [])
    if op.optional_key:
        return [{}, {"AppKey": []}]
    return needed


# -- serving it ---------------------------------------------------------------------------------


@describe(
    "This OpenAPI document",
    d.SERVER,
    description="Built from the route table and the handlers' descriptions; no key needed.",
    response={"type": "object", "description": "An OpenAPI 3.1 document."},
    public=True,
)
async def openapi_json(request: Request) -> Response:
    state = request.app.state
    body: bytes | None = getattr(state, "openapi_document", None)
    if body is None:
        body = orjson.dumps(build_document(request.app.routes))
        state.openapi_document = body
    return Response(body, media_type=JSON_MEDIA_TYPE)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m difychat.server.api.openapi",
        description="Print the server's OpenAPI document, or the Markdown reference made from it.",
    )
    parser.add_argument("--markdown", action="store_true", help="the reference (docs/api.md)")
    args = parser.parse_args(argv)
    # Here, not at the top: the route table imports this module.
    from difychat.server.api.openapi_markdown import markdown
    from difychat.server.api.routes import build_routes

    document = build_document(build_routes())
    if args.markdown:
        sys.stdout.write(markdown(document))
    else:
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
