"""Unknown keys in the apps file: found before validation, named with the closest valid key.

The schema's models ignore unknown keys (so that stored snapshots of other
releases load); the apps file an operator writes must not have any, because
a misspelt ``pre_promt:`` would otherwise leave the app silently on its
default. Free-form mappings (``completion_params``, a tool's parameters) are
not checked: any key is valid there.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel


def unknown_keys(model: type[BaseModel], data: Any, path: str = "") -> Iterator[str]:
    """One message per unknown key of ``data`` read as ``model``, with its dotted path."""
    if not isinstance(data, Mapping):
        return
    known = _known_names(model)
    for key, value in data.items():
        where = f"{path}{key}"
        field = known.get(key) if isinstance(key, str) else None
        if field is None:
            yield _unknown(path, str(key), _likely(model, known, value))
            continue
        yield from _check_value(model.model_fields[field].annotation, value, where)
    # Keys a model holds in a shape annotations cannot describe (``user_input_form``).
    nested = getattr(model, "nested_unknown_keys", None)
    if callable(nested):
        yield from nested(data, path)


def _check_value(annotation: Any, value: Any, where: str) -> Iterator[str]:
    for kind in _models_in(annotation):
        if isinstance(value, Mapping):
            yield from unknown_keys(kind, value, where + ".")
            return
    item = _list_item(annotation)
    if item is not None and isinstance(value, list):
        for index, element in enumerate(value):
            yield from _check_value(item, element, f"{where}[{index}]")


def _known_names(model: type[BaseModel]) -> dict[str, str]:
    names: dict[str, str] = {}
    for name, info in model.model_fields.items():
        names[name] = name
        if isinstance(info.alias, str):
            names[info.alias] = name
    return names


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The model classes an annotation (``X``, ``X | None``, ``X | Y``) admits directly."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    return []


def _list_item(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            item = _list_item(arg)
            if item is not None:
                return item
        return None
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation) or (Any,)
        return item
    return None


def _likely(model: type[BaseModel], known: dict[str, str], value: Any) -> list[list[str]]:
    """Valid keys in two groups: those that take a value of this shape (a mapping or not), the rest."""
    nested = isinstance(value, Mapping)

    def takes_mapping(name: str) -> bool:
        annotation = model.model_fields[known[name]].annotation
        return bool(_models_in(annotation)) or "dict" in str(annotation)

    fitting = [name for name in known if takes_mapping(name) == nested]
    return [fitting, [name for name in known if name not in fitting]]


def _unknown(path: str, key: str, groups: list[list[str]]) -> str:
    close: list[str] = []
    for group in groups:
        close = close or difflib.get_close_matches(key, group, n=1, cutoff=0.6)
    hint = f' (did you mean "{path}{close[0]}"?)' if close else ""
    return f'unknown key "{path}{key}"{hint}'
