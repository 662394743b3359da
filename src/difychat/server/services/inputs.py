"""Validate ``inputs`` against an app's ``user_input_form``, the way Dify does for chat apps."""

from __future__ import annotations

from typing import Any

from difychat.server.domain.apps import FormVariable
from difychat.server.errors import InvalidParam

_STRING_TYPES = ("text-input", "paragraph", "select")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def clean_inputs(form: list[FormVariable], inputs: dict[str, Any]) -> dict[str, Any]:
    """Return the cleaned inputs: form variables only, in form order, checked and coerced."""
    cleaned: dict[str, Any] = {}
    for item in form:
        if item.type == "external_data_tool":
            continue
        name = item.field.variable
        value = inputs.get(name)
        if value is None:
            if item.field.required:
                raise InvalidParam(f"{name} is required in input form")
            cleaned[name] = None
            continue
        if isinstance(value, dict | list):
            raise InvalidParam(f"Invalid input type for ['{name}']")
        cleaned[name] = _check(item, value)
    return cleaned


def _check(item: FormVariable, value: Any) -> Any:
    name = item.field.variable
    if item.type in _STRING_TYPES:
        if not isinstance(value, str):
            raise InvalidParam(f"(type '{item.type}') {name} in input form must be a string")
        value = value.replace("\x00", "")
        if item.type == "select" and value not in item.field.options:
            raise InvalidParam(f"{name} in input form must be one of the following: {item.field.options!r}")
        max_length = item.field.max_length
        if item.type != "select" and max_length is not None and len(value) > max_length:
            raise InvalidParam(f"{name} in input form must be less than {max_length} characters")
        return value
    if item.type == "number":
        return _number(name, value)
    if item.type == "checkbox":
        return _checkbox(value)
    return value


def _number(name: str, value: Any) -> Any:
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                raise InvalidParam(f"{name} in input form must be a valid number") from None
    raise InvalidParam(f"{name} in input form must be a valid number")


def _checkbox(value: Any) -> Any:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        return value
    if not isinstance(value, bool) and isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    return value
