"""Validate ``inputs`` against an app's ``user_input_form``, the way Dify does for chat apps."""

from __future__ import annotations

import math
from typing import Any

from difychat.server.domain.apps import FormVariable
from difychat.server.domain.values import parse_bool
from difychat.server.errors import InvalidParam

_STRING_TYPES = ("text-input", "paragraph", "select")


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
        number = _parse_number(text)
        if number is None:
            raise InvalidParam(f"{name} in input form must be a valid number")
        return number
    raise InvalidParam(f"{name} in input form must be a valid number")


def _parse_number(text: str) -> int | float | None:
    """An int, or a float when it has a fraction or exponent or exceeds 64 bits (as JSON numbers
    are read); None for text that is not a finite number (``nan``, ``inf``, overflow)."""
    number: int | float
    try:
        number = float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            return None
    if isinstance(number, int) and not -(2**63) <= number < 2**64:
        try:
            number = float(number)
        except OverflowError:
            return None
    return number if math.isfinite(number) else None


def _checkbox(value: Any) -> Any:
    if isinstance(value, str):
        flag = parse_bool(value)
        return value if flag is None else flag
    if not isinstance(value, bool) and isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    return value
