"""From a tool's declared parameters to what the model is offered and what the tool receives.

Three steps, in the order an agent run takes them (contract: dify-agent-contract.md §4):

* ``form_values`` when the app is loaded: the builder's ``tool_parameters`` for the ``form``
  parameters, defaults filled in; a required value that is still missing, a ``select`` value that
  is not an option or a required file parameter make the tool unusable (``ToolConfigError``).
* ``model_schema`` for each model call: the ``llm`` parameters as a JSON schema.
* ``arguments`` for each call: the builder's values merged over the model's, defaults filled in,
  each value cast to its declared type; a value that cannot be cast is a ``ToolParameterError``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import orjson

from difychat.server.tools.base import ToolConfigError, ToolParameter, ToolParameterError, ToolSpec

_JSON_TYPES = {
    "string": "string",
    "secret-input": "string",
    "select": "string",
    "number": "number",
    "boolean": "boolean",
    "array": "array",
    "object": "object",
}
_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off", ""})


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def model_schema(spec: ToolSpec) -> dict[str, Any]:
    """The function the model is offered: ``{"name", "description", "parameters"}``.

    Only ``llm`` parameters appear; file parameters never do.
    """
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in spec.parameters:
        if parameter.form != "llm" or parameter.type == "file":
            continue
        if parameter.type in ("array", "object") and parameter.schema is not None:
            prop: dict[str, Any] = dict(parameter.schema)
        else:
            prop = {"type": _JSON_TYPES[parameter.type], "description": parameter.description}
            if parameter.type == "select" and parameter.options:
                prop["enum"] = list(parameter.options)
        properties[parameter.name] = prop
        if parameter.required:
            required.append(parameter.name)
    return {
        "name": spec.name,
        "description": spec.description,
        "parameters": {"type": "object", "properties": properties, "required": required},
    }


def form_values(spec: ToolSpec, tool_parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The values the app fixes for ``spec``'s form parameters, checked and cast.

    Keys of ``tool_parameters`` that are not form parameters are ignored (exports often carry
    the model's parameters with empty values).
    """
    values: dict[str, Any] = {}
    for parameter in spec.parameters:
        if parameter.type == "file":
            if parameter.required:
                raise ToolConfigError(
                    f"tool {spec.name} needs a file parameter ({parameter.name}), which agents cannot fill"
                )
            continue
        if parameter.form != "form":
            continue
        value = tool_parameters.get(parameter.name)
        if _blank(value):
            value = parameter.default
        if _blank(value):
            if parameter.required:
                raise ToolConfigError(f"tool parameter {parameter.name} not found in tool config")
            continue
        try:
            values[parameter.name] = cast(parameter, value)
        except ToolParameterError as exc:
            raise ToolConfigError(f"tool {spec.name}: {exc}") from None
    return values


def arguments(spec: ToolSpec, form: Mapping[str, Any], model_args: Mapping[str, Any]) -> dict[str, Any]:
    """What the tool is invoked with: ``form`` (from ``form_values``) over the model's arguments.

    Arguments the tool does not declare are dropped; missing ones take the declared default.
    Whether a required value is present is for the tool to say (with its own text).
    """
    merged: dict[str, Any] = {}
    for parameter in spec.parameters:
        if parameter.name in form:
            merged[parameter.name] = form[parameter.name]
            continue
        value = model_args.get(parameter.name) if parameter.form == "llm" else None
        if value is None:
            value = parameter.default
        if value is None:
            continue
        merged[parameter.name] = cast(parameter, value)
    return merged


def cast(parameter: ToolParameter, value: Any) -> Any:
    """``value`` as ``parameter``'s type; raises ToolParameterError when it cannot be one."""
    kind = parameter.type
    if kind in ("string", "secret-input", "select"):
        text = as_text(value)
        if kind == "select" and parameter.options and text not in parameter.options:
            raise ToolParameterError(
                f"{parameter.name} must be one of {', '.join(parameter.options)}, not {text!r}"
            )
        return text
    if kind == "number":
        return _as_number(parameter.name, value)
    if kind == "boolean":
        return _as_bool(parameter.name, value)
    if kind in ("array", "object"):
        return _as_structure(parameter, value)
    return value


def as_text(value: Any) -> str:
    """A value as the text a string parameter, a query string or a header carries."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value, default=str).decode()


def _as_number(name: str, value: Any) -> int | float:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ToolParameterError(f"{name} must be a finite number")
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise ToolParameterError(f"{name} must be a number, not {value!r}") from None
        if not math.isfinite(number):
            raise ToolParameterError(f"{name} must be a finite number")
        return number
    raise ToolParameterError(f"{name} must be a number")


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ToolParameterError(f"{name} must be true or false, not {value!r}")


def _as_structure(parameter: ToolParameter, value: Any) -> Any:
    wanted = list if parameter.type == "array" else dict
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            if parameter.type == "array":
                return [value]  # one item given bare
            raise ToolParameterError(f"{parameter.name} must be a JSON object") from None
    if not isinstance(value, wanted):
        raise ToolParameterError(f"{parameter.name} must be a JSON {parameter.type}")
    return value
