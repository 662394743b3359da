"""Reading an OpenAPI 3 document into operations: what each tool is called, takes and sends.

Pure: text in, ``Operation`` records out, or a ``ToolConfigError`` that names the problem (and
where in the document it is), so a broken document stops the app at load, not at a call.
Only local ``$ref``s (``#/components/...``) are followed; remote ones are refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import yaml
from yarl import URL

from difychat.server.tools.base import ParameterType, ToolConfigError, ToolParameter

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
LOCATIONS = ("path", "query", "header", "cookie")
BODY_TYPES = ("application/json", "application/x-www-form-urlencoded")
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_MAX_REF_DEPTH = 32


@dataclass(frozen=True, slots=True)
class Argument:
    """Where one tool parameter goes in the request."""

    name: str  # the tool parameter's name
    location: str  # path | query | header | cookie | body
    wire_name: str  # its name in the request
    required: bool = False


@dataclass(frozen=True, slots=True)
class Operation:
    name: str  # the tool name: the operationId, made safe for a function name
    method: str
    path: str
    description: str
    parameters: tuple[ToolParameter, ...]
    arguments: tuple[Argument, ...]
    # The request body's content type, None without one; a non-object JSON body is one argument, ``body``.
    body_type: str | None = None
    body_is_value: bool = False


@dataclass(frozen=True, slots=True)
class Document:
    title: str
    server_url: URL | None  # None: the document gives no server (or a relative one and no base)
    operations: tuple[Operation, ...]


def parse_text(text: str | bytes) -> Mapping[str, Any]:
    """The document as a mapping, from JSON or YAML."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ToolConfigError(f"the OpenAPI document is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ToolConfigError(f"the OpenAPI document is neither JSON nor YAML: {exc}") from None
    if not isinstance(value, Mapping):
        raise ToolConfigError("the OpenAPI document must be a mapping (JSON object) at the top")
    return value


def read(document: Mapping[str, Any], *, base: URL | None = None) -> Document:
    """Check the document and list its operations; ``base`` resolves a relative server URL."""
    version = document.get("openapi")
    if not isinstance(version, str) or not version.startswith("3."):
        found = f"swagger {document['swagger']}" if "swagger" in document else repr(version)
        raise ToolConfigError(f"only OpenAPI 3 documents are supported (openapi: 3.x), not {found}")
    paths = document.get("paths")
    if not isinstance(paths, Mapping) or not paths:
        raise ToolConfigError("the OpenAPI document has no paths")
    info = document.get("info")
    title = str(info.get("title") or "") if isinstance(info, Mapping) else ""
    resolver = _Refs(document)
    operations: list[Operation] = []
    names: dict[str, str] = {}
    for path, item in paths.items():
        if not isinstance(path, str) or not path.startswith("/") or not isinstance(item, Mapping):
            raise ToolConfigError(f"paths: {path!r} must start with / and hold operations")
        item = resolver.resolve(item, f"paths.{path}")
        shared = item.get("parameters") or []
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            where = f"paths.{path}.{method}"
            if not isinstance(operation, Mapping):
                raise ToolConfigError(f"{where} must be a mapping")
            read_op = _operation(resolver, method, path, operation, shared, where)
            if read_op.name in names:
                raise ToolConfigError(
                    f"{where}: the tool name {read_op.name!r} is already used by {names[read_op.name]}"
                )
            names[read_op.name] = where
            operations.append(read_op)
    if not operations:
        raise ToolConfigError("the OpenAPI document has no operations")
    return Document(title, _server(document, base), tuple(operations))


def _server(document: Mapping[str, Any], base: URL | None) -> URL | None:
    servers = document.get("servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], Mapping):
        return base.with_path("/") if base is not None else None
    first = servers[0]
    text = str(first.get("url") or "")
    variables = first.get("variables") if isinstance(first.get("variables"), Mapping) else {}
    for name, spec in (variables or {}).items():
        default = spec.get("default") if isinstance(spec, Mapping) else None
        text = text.replace("{" + str(name) + "}", str(default if default is not None else ""))
    if "{" in text:
        raise ToolConfigError(f"servers[0].url {text!r} has a variable without a default")
    try:
        url = URL(text)
    except ValueError as exc:
        raise ToolConfigError(f"servers[0].url is not a URL: {exc}") from None
    if not url.is_absolute():
        return base.join(url) if base is not None else None
    if url.scheme not in ("http", "https"):
        raise ToolConfigError(f"servers[0].url must be an http or https URL, not {text!r}")
    return url


def _tool_name(operation: Mapping[str, Any], method: str, path: str) -> str:
    given = operation.get("operationId")
    if isinstance(given, str) and given.strip():
        name = _UNSAFE.sub("_", given.strip()).strip("_")
    else:
        name = _UNSAFE.sub("_", f"{method} {path}").strip("_")
    name = name[:64]
    if not _TOOL_NAME.fullmatch(name):
        raise ToolConfigError(f"{method.upper()} {path}: cannot make a tool name from {given!r}")
    return name


def _operation(
    refs: _Refs, method: str, path: str, operation: Mapping[str, Any], shared: Any, where: str
) -> Operation:
    name = _tool_name(operation, method, path)
    description = str(operation.get("description") or operation.get("summary") or "").strip()
    params: dict[tuple[str, str], Mapping[str, Any]] = {}
    for index, raw in enumerate([*(shared or []), *(operation.get("parameters") or [])]):
        entry = refs.resolve(raw, f"{where}.parameters[{index}]")
        location, wire = entry.get("in"), entry.get("name")
        if location not in LOCATIONS or not isinstance(wire, str) or not wire:
            raise ToolConfigError(
                f"{where}.parameters[{index}] needs a name and an in of {', '.join(LOCATIONS)}"
            )
        params[(location, wire)] = entry  # the operation's own wins over the path item's
    tool_params: list[ToolParameter] = []
    arguments: list[Argument] = []
    taken: set[str] = set()
    for (location, wire), entry in params.items():
        required = location == "path" or entry.get("required") is True
        schema = refs.resolve(entry.get("schema") or {}, f"{where}.parameters.{wire}.schema")
        text = str(entry.get("description") or schema.get("description") or "")
        tool_params.append(_parameter(wire, schema, text, required, refs, where))
        arguments.append(Argument(wire, location, wire, required))
        taken.add(wire)
    for segment in re.findall(r"{([^}]*)}", path):
        if ("path", segment) not in params:
            raise ToolConfigError(f"{where}: the path parameter {segment!r} is not declared")
    body_type, body_is_value = _body(refs, operation, where, tool_params, arguments, taken)
    return Operation(
        name,
        method.upper(),
        path,
        description,
        tuple(tool_params),
        tuple(arguments),
        body_type,
        body_is_value,
    )


def _body(
    refs: _Refs,
    operation: Mapping[str, Any],
    where: str,
    tool_params: list[ToolParameter],
    arguments: list[Argument],
    taken: set[str],
) -> tuple[str | None, bool]:
    raw = operation.get("requestBody")
    if raw is None:
        return None, False
    body = refs.resolve(raw, f"{where}.requestBody")
    content = body.get("content")
    content = content if isinstance(content, Mapping) else {}
    kind = next((t for t in BODY_TYPES if t in content), None)
    if kind is None:
        kind = next((t for t in content if isinstance(t, str) and t.endswith("+json")), None)
    if kind is None:
        if body.get("required") is True:
            offered = ", ".join(str(t) for t in content) or "none"
            raise ToolConfigError(f"{where}: a required request body of type {offered} cannot be sent")
        return None, False
    media = content[kind] if isinstance(content[kind], Mapping) else {}
    schema = refs.resolve(media.get("schema") or {}, f"{where}.requestBody.schema")
    required_body = body.get("required") is True
    properties = schema.get("properties")
    if schema.get("type", "object") != "object" or not isinstance(properties, Mapping):
        if schema:
            tool_params.append(
                _parameter("body", schema, str(body.get("description") or ""), True, refs, where)
            )
            arguments.append(Argument("body", "body", "body", required_body))
            return kind, True
        return kind, False
    required = set(schema.get("required") or [])
    for prop, prop_schema in properties.items():
        resolved = refs.resolve(prop_schema, f"{where}.requestBody.properties.{prop}")
        if prop not in taken:
            text = str(resolved.get("description") or "")
            tool_params.append(_parameter(str(prop), resolved, text, prop in required, refs, where))
            taken.add(str(prop))
        arguments.append(Argument(str(prop), "body", str(prop), prop in required))
    return kind, False


def _parameter(
    name: str, schema: Mapping[str, Any], description: str, required: bool, refs: _Refs, where: str
) -> ToolParameter:
    kind = schema.get("type")
    if isinstance(kind, list):  # OpenAPI 3.1: a list of types; the first one that is not null
        kind = next((k for k in kind if k != "null"), "string")
    default = schema.get("default")
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):
        return ToolParameter(name, "select", "llm", required, default, description, tuple(enum))
    if kind in ("integer", "number"):
        return ToolParameter(name, "number", "llm", required, default, description)
    if kind == "boolean":
        return ToolParameter(name, "boolean", "llm", required, default, description)
    if kind in ("array", "object"):
        full = refs.inline(schema, f"{where}.{name}")
        sent = {**full, "description": description} if description else full
        structure: ParameterType = "array" if kind == "array" else "object"
        return ToolParameter(name, structure, "llm", required, default, description, schema=sent)
    return ToolParameter(name, "string", "llm", required, default, description)


class _Refs:
    """Follows local ``$ref``s, with a bound on depth (a cycle is a configuration error)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._document = document

    def resolve(self, value: Any, where: str, depth: int = 0) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise ToolConfigError(f"{where} must be a mapping")
        ref = value.get("$ref")
        if ref is None:
            return value
        if depth > _MAX_REF_DEPTH:
            raise ToolConfigError(f"{where}: $ref {ref!r} is circular or nested too deep")
        return self.resolve(self._target(ref, where), where, depth + 1)

    def _target(self, ref: Any, where: str) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise ToolConfigError(f"{where}: only local $refs (#/...) are followed, not {ref!r}")
        node: Any = self._document
        for part in ref[2:].split("/"):
            key = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or key not in node:
                raise ToolConfigError(f"{where}: $ref {ref!r} points to nothing")
            node = node[key]
        return node

    def inline(self, value: Any, where: str, depth: int = 0) -> Any:
        """``value`` with every ``$ref`` replaced by what it points to (for a schema sent to the model)."""
        if depth > _MAX_REF_DEPTH:
            raise ToolConfigError(f"{where}: a schema is circular or nested too deep")
        if isinstance(value, Mapping):
            if "$ref" in value:
                return self.inline(self._target(value["$ref"], where), where, depth + 1)
            return {k: self.inline(v, where, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [self.inline(v, where, depth + 1) for v in value]
        return value
