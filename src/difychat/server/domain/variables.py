"""Conversation variable values: type checks, defaults and their wire text.

The type names are Dify's. ``integer`` and ``float`` are declared types that
the API reports as ``number``, and they accept any number, as Dify does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return not (isinstance(value, float) and not math.isfinite(value))


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_dict(value: Any) -> bool:
    return isinstance(value, dict)


SCALAR_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": _is_str,
    "secret": _is_str,
    "number": _is_number,
    "integer": _is_number,
    "float": _is_number,
    "boolean": _is_bool,
    "object": _is_dict,
    "file": _is_dict,
}

ARRAY_ITEM_TYPES = {
    "array[string]": "string",
    "array[number]": "number",
    "array[object]": "object",
    "array[boolean]": "boolean",
    "array[file]": "file",
}


def wire_type(value_type: str) -> str:
    """The type name the API shows."""
    return "number" if value_type in ("integer", "float") else value_type


def matches(value_type: str, value: Any) -> bool:
    """Whether ``value`` (decoded JSON) fits a variable of ``value_type``."""
    check = SCALAR_CHECKS.get(value_type)
    if check is not None:
        return check(value)
    if not isinstance(value, list):
        return False
    if value_type == "array[any]":
        return True
    item = ARRAY_ITEM_TYPES.get(value_type)
    if item is None:
        return False
    item_check = SCALAR_CHECKS[item]
    return all(item_check(v) for v in value)


def inferred_type(value: Any) -> str:
    """The type name of a JSON value, for the mismatch message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def mismatch_message(name: str, value_type: str, value: Any) -> str:
    return (
        f"Type mismatch: variable '{name}' expects {wire_type(value_type)}, "
        f"but got {inferred_type(value)} type"
    )


def default_value(value_type: str) -> Any:
    """The value a declared variable starts with when the apps file gives none."""
    if value_type in ("string", "secret"):
        return ""
    if value_type in ("number", "integer", "float"):
        return 0
    if value_type == "boolean":
        return False
    if value_type in ("object", "file"):
        return {}
    return []


def to_text(value: Any) -> str:
    """The wire form of a value: always a string, made as Python's ``str()`` makes it.

    So ``True`` reads ``"True"`` and ``{"a": 1}`` reads ``"{'a': 1}"``, exactly as Dify sends them.
    """
    return str(value)
