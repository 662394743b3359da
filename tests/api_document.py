"""Checking requests and answers against the server's OpenAPI document (``GET /v1/openapi.json``),
with ``jsonschema``: what a request sends must be what its operation declares, and what comes back
must match the declared answer for its status."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
from jsonschema import Draft202012Validator


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator of ``schema``, whose ``#/components/...`` references resolve in ``document``."""
    root = {**schema, "components": document["components"]}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


def problems(document: dict[str, Any], schema: dict[str, Any], value: Any) -> list[str]:
    found = validator(document, schema).iter_errors(value)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}" for e in found]


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{\w+\})", template)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(regex + "$")


def find_operation(document: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The template and operation a concrete request goes to: of those that match, the one with the
    most fixed text, as the route table's order gives it (``/documents/status/{action}`` before
    ``/documents/{batch}/...``)."""
    found = [
        (len(re.sub(r"\{\w+\}", "", template)), template, item[method.lower()])
        for template, item in document["paths"].items()
        if method.lower() in item and _pattern(template).match(path)
    ]
    if not found:
        raise LookupError(f"{method} {path} is in no operation of the document")
    _, template, operation = max(found, key=lambda entry: entry[0])
    return template, operation


@dataclass
class Exchange:
    """One request and its answer, as the client saw them."""

    method: str
    path: str
    query: dict[str, list[str]]
    request_type: str
    request_body: bytes
    status: int
    response_type: str
    response_body: bytes
    operation: str = field(default="")

    @classmethod
    def of(cls, response: httpx.Response) -> Exchange:
        request = response.request
        query: dict[str, list[str]] = {}
        for name, value in request.url.params.multi_items():
            query.setdefault(name, []).append(value)
        try:
            sent = request.content
        except httpx.RequestNotRead:  # a streamed body (multipart): its media type is what is checked
            sent = b"(streamed)"
        return cls(
            method=request.method,
            path=request.url.path,
            query=query,
            request_type=request.headers.get("content-type", ""),
            request_body=sent,
            status=response.status_code,
            response_type=response.headers.get("content-type", ""),
            response_body=response.content,
        )


def _query_value(schema: dict[str, Any], values: list[str]) -> Any:
    """A query string's text as the schema's type reads it."""
    kind = schema.get("type")
    if kind == "array":
        return [_query_value(schema.get("items", {}), [value]) for value in values]
    value = values[-1]
    if kind == "integer" and re.fullmatch(r"-?\d+", value):
        return int(value)
    return value


def _media(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def check(document: dict[str, Any], exchange: Exchange) -> list[str]:
    """What in ``exchange`` disagrees with the document: each problem named by the request."""
    template, operation = find_operation(document, exchange.method, exchange.path)
    exchange.operation = f"{exchange.method} {template}"
    found = [f"{exchange.operation}: {p}" for p in _request_problems(document, operation, template, exchange)]
    found += [f"{exchange.operation}: {p}" for p in _response_problems(document, operation, exchange)]
    return found


def _request_problems(
    document: dict[str, Any], operation: dict[str, Any], template: str, exchange: Exchange
) -> list[str]:
    found: list[str] = []
    match = _pattern(template).match(exchange.path)
    assert match is not None
    declared = {p["name"]: p for p in operation.get("parameters", [])}
    for name, parameter in declared.items():
        if parameter["in"] == "path":
            value = match.group(name)
            # A well-formed request: the tests send real ids, and bad ids on purpose only for errors.
            if exchange.status < 400:
                found += [f"path {name}: {p}" for p in problems(document, parameter["schema"], value)]
        elif parameter["in"] == "query" and name in exchange.query:
            value = _query_value(parameter["schema"], exchange.query[name])
            if exchange.status < 400:
                found += [f"query {name}: {p}" for p in problems(document, parameter["schema"], value)]
        elif parameter["in"] == "query" and parameter["required"] and exchange.status < 400:
            found.append(f"query {name} is required but a request without it succeeded")
    found += [f"query {name} is not in the document" for name in exchange.query if name not in declared]
    body = operation.get("requestBody")
    media = _media(exchange.request_type)
    if body is None:
        if exchange.request_body and media == "application/json":
            found.append("a JSON body where the document declares none")
        return found
    if not exchange.request_body:
        if body.get("required") and exchange.status < 400:
            found.append("no body, though the document requires one, and the request succeeded")
        return found
    if media not in body["content"]:
        found.append(f"a {media} body; the document declares {sorted(body['content'])}")
    elif media == "application/json" and exchange.status < 400:
        sent = json.loads(exchange.request_body)
        found += [f"request body {p}" for p in problems(document, body["content"][media]["schema"], sent)]
    return found


def _response_problems(document: dict[str, Any], operation: dict[str, Any], exchange: Exchange) -> list[str]:
    responses = operation["responses"]
    status = str(exchange.status)
    response = responses.get(status) or responses.get(f"{status[0]}XX") or responses.get("default")
    if response is None:
        return [f"status {status} is not in the document ({sorted(responses)})"]
    if "$ref" in response:
        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    content = response.get("content")
    if not content:
        return [] if not exchange.response_body else [f"a {status} body where the document declares none"]
    media = _media(exchange.response_type)
    candidates = [m for m in content if m == media or m == "*/*"]
    if not candidates:
        return [f"{status} answered as {media}; the document declares {sorted(content)}"]
    schema = content[candidates[0]].get("schema")
    if media != "application/json" or schema is None:
        return []
    return [f"{status} body {p}" for p in problems(document, schema, json.loads(exchange.response_body))]


class Recorder:
    """An httpx response hook that keeps every exchange of a client."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        self.exchanges.append(Exchange.of(response))
