"""An MCP tool's ``inputSchema`` as tool parameters (contract §12).

Every property is a parameter the model fills (``llm``). Its type is the schema's ``type`` (the
first non-null one of a list; for ``anyOf``/``oneOf`` without a type, the first branch that has
one): ``integer`` and ``number`` are numbers, a string with an ``enum`` a select, ``array`` and
``object`` keep their JSON schema, which the model is sent as it is. Local ``$ref``s into the
schema's ``$defs`` are inlined, so a property's schema stands on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from difychat.server.tools.base import ParameterType, ToolParameter

_TYPES: dict[str, ParameterType] = {
    "string": "string",
    "integer": "number",
    "number": "number",
    "float": "number",
    "boolean": "boolean",
    "array": "array",
    "object": "object",
}
# Inlining stops this deep (a recursive schema keeps its inner ``$ref``s).
_MAX_DEPTH = 8


def parameters_of(input_schema: Mapping[str, Any]) -> tuple[ToolParameter, ...]:
    properties = input_schema.get("properties")
    if not isinstance(properties, Mapping):
        return ()
    required = input_schema.get("required")
    required_names = set(required) if isinstance(required, list) else set()
    definitions = _definitions(input_schema)
    out: list[ToolParameter] = []
    for name, raw in properties.items():
        if not isinstance(name, str) or not isinstance(raw, Mapping):
            continue
        prop = _inline(raw, definitions, 0)
        kind = _type_of(prop)
        enum = prop.get("enum")
        options = tuple(str(o) for o in enum) if kind == "string" and isinstance(enum, list) else ()
        parameter_type: ParameterType = "select" if options else _TYPES.get(kind or "", "string")
        out.append(
            ToolParameter(
                name=name,
                type=parameter_type,
                form="llm",
                required=name in required_names,
                default=prop.get("default"),
                description=str(prop.get("description") or ""),
                options=options,
                schema=prop if parameter_type in ("array", "object") else None,
            )
        )
    return tuple(out)


def _type_of(prop: Mapping[str, Any]) -> str | None:
    declared = prop.get("type")
    if isinstance(declared, str):
        return declared
    if isinstance(declared, list):
        names = [t for t in declared if isinstance(t, str)]
        concrete = [t for t in names if t != "null"]
        chosen = concrete or names
        return chosen[0] if chosen else None
    for key in ("anyOf", "oneOf"):
        branches = prop.get(key)
        if isinstance(branches, list):
            for branch in branches:
                if isinstance(branch, Mapping):
                    found = _type_of(branch)
                    if found and found != "null":
                        return found
    if "enum" in prop:
        return "string"
    return None


def _definitions(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    for key in ("$defs", "definitions"):
        found = schema.get(key)
        if isinstance(found, Mapping):
            return found
    return {}


def _inline(value: Any, definitions: Mapping[str, Any], depth: int) -> Any:
    if isinstance(value, Mapping):
        ref = value.get("$ref")
        if isinstance(ref, str) and depth < _MAX_DEPTH:
            target = _resolve(ref, definitions)
            if target is not None:
                merged = {**target, **{k: v for k, v in value.items() if k != "$ref"}}
                return _inline(merged, definitions, depth + 1)
        return {k: _inline(v, definitions, depth) for k, v in value.items()}
    if isinstance(value, list):
        return [_inline(v, definitions, depth) for v in value]
    return value


def _resolve(ref: str, definitions: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for prefix in ("#/$defs/", "#/definitions/"):
        if ref.startswith(prefix):
            found = definitions.get(ref[len(prefix) :])
            return found if isinstance(found, Mapping) else None
    return None
