"""The API reference in Markdown (``docs/api.md``), made from the OpenAPI document alone.

``python -m difychat.server.api.openapi --markdown > docs/api.md`` writes it; a test fails when the
committed file differs from what the route table makes now. The server's version is left out, so a
release alone does not change it.
"""

from __future__ import annotations

import re
from typing import Any

_INTRO = """\
# API reference

Every route difychat serves, made from its OpenAPI 3.1 document: a running server publishes it at
`GET /v1/openapi.json` (no key needed), for code generators, API clients and fuzzers. This page is
written by `python -m difychat.server.api.openapi --markdown > docs/api.md`; a test fails when it
is out of date.

**Keys.** Send them as `Authorization: Bearer <key>`:

{keys}

**Errors.** A failure is a JSON body `{{"code", "message", "status"}}`, with the HTTP status
repeated in `status` and one of the contract's codes in `code` (`invalid_param`, `not_found`,
`app_unavailable`, ...); see [Error](#error). The exceptions are said where they apply.

**Streams.** `POST /v1/chat-messages` and `POST /v1/completion-messages` with
`"response_mode": "streaming"` answer with server-sent events (`text/event-stream`) instead of one
JSON body.
"""


def markdown(document: dict[str, Any]) -> str:
    schemes = document["components"]["securitySchemes"]
    keys = "\n".join(f"- `{name}`: {scheme['description']}" for name, scheme in schemes.items())
    out = [_INTRO.format(keys=keys), "## Contents\n"]
    tags = document["tags"]
    out += [f"- [{tag['name']}](#{_anchor(tag['name'])})" for tag in tags]
    out.append("- [Schemas](#schemas)\n")
    for tag in tags:
        out += [f"## {tag['name']}\n", tag["description"] + "\n"]
        for path, item in document["paths"].items():
            for method, operation in item.items():
                if operation["tags"][0] == tag["name"]:
                    out.append(_operation(method, path, operation))
    out.append("## Schemas\n")
    for name, schema in document["components"]["schemas"].items():
        out.append(_schema_section(name, schema))
    return "\n".join(out).rstrip() + "\n"


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def type_of(schema: dict[str, Any]) -> str:
    """A schema in a few words, schemas named in ``components`` as links."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{_anchor(name)})"
    for key, joint in (("anyOf", " or "), ("oneOf", " or "), ("allOf", " and ")):
        if key in schema:
            return joint.join(type_of(option) for option in schema[key])
    if "const" in schema:
        return f"`{_json(schema['const'])}`"
    if "enum" in schema:
        return " or ".join(f"`{_json(value)}`" for value in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return "array of " + type_of(schema.get("items", {}))
    if kind == "string" and schema.get("format") == "binary":
        return "file"
    if kind == "string" and "format" in schema:
        return f"string ({schema['format']})"
    if isinstance(kind, str):
        return kind
    return "any"


def _json(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _notes(schema: dict[str, Any]) -> str:
    """Description, default and bounds of a field or parameter."""
    parts = [schema["description"]] if schema.get("description") else []
    if "default" in schema:
        parts.append(f"Default `{_json(schema['default'])}`.")
    bounds = [
        f"{word} {schema[key]}" for key, word in (("minimum", "min"), ("maximum", "max")) if key in schema
    ]
    if bounds:
        parts.append(", ".join(bounds).capitalize() + ".")
    return " ".join(parts)


def _operation(method: str, path: str, operation: dict[str, Any]) -> str:
    out = [f"### `{method.upper()} {path}`\n", f"**{operation['summary']}.**"]
    if operation.get("description"):
        out[-1] += " " + operation["description"]
    out.append("")
    out.append(_security(operation["security"]))
    parameters = operation.get("parameters", [])
    if parameters:
        out += ["", "| Parameter | In | Type | Required | Notes |", "| --- | --- | --- | --- | --- |"]
        for p in parameters:
            row = (f"`{p['name']}`", p["in"], type_of(p["schema"]), _yes(p["required"]), _notes(p))
            out.append("| " + " | ".join(_cell(cell) for cell in row) + " |")
    body = operation.get("requestBody")
    if body is not None:
        out.append("")
        for media, content in body["content"].items():
            optional = "" if body.get("required") else " (optional)"
            out.append(f"Body{optional}, `{media}`: {_body(content.get('schema', {}))}")
    out += ["", "Answers:", ""]
    errors = [status for status, response in operation["responses"].items() if "$ref" in response]
    for status, response in operation["responses"].items():
        if "$ref" not in response:
            out.append(f"- `{status}`: {_response(response)}")
    if errors:
        out.append(f"- {', '.join(f'`{status}`' for status in errors)}: the error body, [Error](#error).")
    return "\n".join(out) + "\n"


def _yes(flag: bool) -> str:
    return "yes" if flag else ""


def _security(requirements: list[dict[str, list[str]]]) -> str:
    if not requirements:
        return "Key: none."
    options = [" with ".join(f"`{name}`" for name in option) or "none" for option in requirements]
    return "Key: " + " or ".join(options) + "."


def _body(schema: dict[str, Any]) -> str:
    """A body's schema: a named one as a link, plus the fields added beside it; an inline object as
    its fields."""
    named, fields, notes = [], [], []
    for part in schema.get("allOf", [schema]):
        if "$ref" in part:
            named.append(type_of(part))
        required = set(part.get("required", []))
        fields += [
            f"`{name}` ({type_of(field)}{', required' if name in required else ''})"
            for name, field in part.get("properties", {}).items()
        ]
        if part.get("description"):
            notes.append(part["description"])
    text = ", ".join(fields)
    if named:
        text = named[0] + (f" with {text}" if text else "")
    return " ".join(filter(None, [text + "." if text else "", *notes])) or "a JSON object."


def _response(response: dict[str, Any]) -> str:
    text = response.get("description", "")
    contents = [
        f"`{media}`" + (f" {type_of(content['schema'])}" if media == "application/json" else "")
        for media, content in response.get("content", {}).items()
    ]
    return " ".join(filter(None, [text, "; ".join(contents) + "." if contents else ""]))


def _schema_section(name: str, schema: dict[str, Any]) -> str:
    out = [f"### {name}\n"]
    if schema.get("description"):
        out += [schema["description"].strip(), ""]
    properties = schema.get("properties")
    if not properties:
        out.append(f"{type_of(schema)}.")
        return "\n".join(out) + "\n"
    required = set(schema.get("required", []))
    out += ["| Field | Type | Required | Notes |", "| --- | --- | --- | --- |"]
    for field, field_schema in properties.items():
        row = (f"`{field}`", type_of(field_schema), _yes(field in required), _notes(field_schema))
        out.append("| " + " | ".join(_cell(cell) for cell in row) + " |")
    if schema.get("additionalProperties") is False:
        out += ["", "No other fields."]
    return "\n".join(out) + "\n"
