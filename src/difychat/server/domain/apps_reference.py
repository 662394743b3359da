"""The apps file reference in Markdown (``docs/apps-file.md``), made from the schema itself.

``python -m difychat.server.domain.apps_reference > docs/apps-file.md`` writes it; a test fails when
the committed file differs from what the schema makes now. Every block of an ``apps:`` entry
(``AppConfig`` and the models it nests) and of the top-level ``datasets:`` list gets a section: each
key with its type, default and description. A description is the field's ``description``, else the
docstring or the comment written with the field (above it, or after it on the same line); a block's
text is its class docstring.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import io
import json
import re
import sys
import textwrap
import tokenize
import types
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

from difychat.server.domain.apps import FORM_TYPES, AppConfig, FormField
from difychat.server.domain.datasets_file import DatasetDeclaration

REGENERATE = "python -m difychat.server.domain.apps_reference > docs/apps-file.md"

# The lists the file holds, and what each entry is.
ROOTS: tuple[tuple[str, type[BaseModel], str], ...] = (
    ("apps[]", AppConfig, "An app."),
    ("datasets[]", DatasetDeclaration, "A dataset the server creates at start-up when none has its name."),
)

# Shapes an annotation cannot say, read by the model's own validator: the field, the path of the
# nested block below the field, the block, and the field's type.
_BESIDES: dict[tuple[type[BaseModel], str], tuple[str, type[BaseModel], str]] = {
    (AppConfig, "user_input_form"): ("[].<type>", FormField, "list of `{<type>: BLOCK}`"),
}

_INTRO = """\
# The apps file

The apps file (`difychat serve --config FILE`, or `DIFYCHAT_CONFIG`) is YAML with two lists:
`apps:`, one entry per app, and `datasets:` (optional), the datasets to create at start-up. This page
lists every key, made from the schema the server reads the file with. It is written by
`{regenerate}`,
and a test fails when it is out of date. The README's [apps file section](../README.md#the-apps-file)
shows the blocks at work.

- **Unknown keys are refused at start-up**, naming the app, the key's path and the closest valid
  key (`app "Support Bot": unknown key "pre_promt" (did you mean "pre_prompt"?)`), so a misspelt key
  never leaves an app silently on its default. Only the keys of a mapping typed *any keys* and the
  names of a *mapping of names* are free.
- **`${{VAR}}` and `${{VAR:-default}}`** in any string are replaced from the environment when the file
  is read. A `${{VAR}}` that is unset and has no default stops start-up with a message naming it;
  `${{VAR:-}}` makes it optional (empty).
- **Secrets** (typed *secret* below) never show: not in `/parameters`, `/site` or `/info`, not in logs
  or error messages, and not in the configurations stored with conversations.
- A block marked *switch* also takes a bare `true` or `false`, read as `{{enabled: true}}` or
  `{{enabled: false}}`. A block's *default* is what an omitted block (or `{{}}`) means.
- Changing the file and restarting updates the apps; a conversation keeps the configuration it was
  started with.
"""


@dataclass(slots=True)
class _Section:
    path: str
    model: type[BaseModel]
    text: str
    also: list[str] = field(default_factory=list)


def markdown() -> str:
    """The whole page."""
    sections = list(_sections())
    anchors = {s.model: _anchor(_heading(s.path)) for s in sections}
    if len(set(anchors.values())) != len(anchors):
        raise ValueError("two sections of the apps file reference have the same anchor")
    out = [_INTRO.format(regenerate=REGENERATE), "## Contents\n"]
    out += [f"- [`{s.path}`](#{anchors[s.model]})" for s in sections]
    out.append("")
    for section in sections:
        out.append(_render_section(section, anchors))
    return "\n".join(out).rstrip() + "\n"


def _sections() -> Iterator[_Section]:
    """Each block once, in the order a reader meets them: a block, then the blocks under it."""
    seen: dict[type[BaseModel], _Section] = {}

    def walk(path: str, model: type[BaseModel], text: str) -> Iterator[_Section]:
        if model in seen:
            seen[model].also.append(path)
            return
        section = _Section(path, model, text)
        seen[model] = section
        yield section
        for name, info in model.model_fields.items():
            key = _key(name, info)
            besides = _BESIDES.get((model, name))
            if besides is not None:
                suffix, nested, _ = besides
                yield from walk(f"{path}.{key}{suffix}", nested, "")
                continue
            for suffix, nested in _models_in(info.annotation):
                yield from walk(f"{path}.{key}{suffix}", nested, "")

    for path, model, text in ROOTS:
        yield from walk(path, model, text)


def _render_section(section: _Section, anchors: dict[type[BaseModel], str]) -> str:
    model = section.model
    out = [f"## {_heading(section.path)}\n"]
    text = section.text or _docstring(model)
    if model is FormField:
        kinds = ", ".join(f"`{kind}`" for kind in FORM_TYPES)
        text += f" `<type>` is one of {kinds}."
    notes = [text] if text else []
    if _accepts(model, True):
        notes.append("A *switch*: `true` or `false` alone sets `enabled`.")
    elif _accepts(model, "name"):
        notes.append("A string alone is its `name`.")
    shown = getattr(model, "_wire", None)
    if isinstance(shown, tuple) and shown:
        others = "; the others are difychat's" if set(model.model_fields) - set(shown) else ""
        notes.append("`/parameters` shows " + _and([f"`{key}`" for key in shown]) + others + ".")
    if section.also:
        notes.append("The same block is at " + _and([f"`{path}`" for path in section.also]) + ".")
    if notes:
        out.append(" ".join(notes) + "\n")
    out += ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]
    for name, info in model.model_fields.items():
        besides = _BESIDES.get((model, name))
        if besides is not None:
            _, nested, shape = besides
            kind = shape.replace("`{<type>: BLOCK}`", f"`{{<type>: …}}` ([block](#{anchors[nested]}))")
        else:
            kind = _type(info.annotation, anchors) + _constraints(info)
        cells = [f"`{_key(name, info)}`", kind, _default(info), _description(model, name, info)]
        out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(out) + "\n"


# --- types and defaults ----------------------------------------------------------------------------

_SCALARS: dict[Any, str] = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    Decimal: "decimal",
    Path: "path",
}


def _union_args(annotation: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return None


def _models_in(annotation: Any) -> Iterator[tuple[str, type[BaseModel]]]:
    """The blocks an annotation holds, with the path suffix that reaches each."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield "", annotation
        return
    args = _union_args(annotation)
    if args is not None:
        for arg in args:
            yield from _models_in(arg)
        return
    origin = typing.get_origin(annotation)
    if origin is list:
        for suffix, model in _models_in(typing.get_args(annotation)[0]):
            yield "[]" + suffix, model
    elif origin is dict:
        for suffix, model in _models_in(typing.get_args(annotation)[1]):
            yield ".<name>" + suffix, model


def _type(annotation: Any, anchors: dict[type[BaseModel], str]) -> str:
    if typing.get_origin(annotation) is typing.Annotated:  # StrictBool and kin, inside a union
        annotation = typing.get_args(annotation)[0]
    if annotation is Any:
        return "any"
    if annotation is SecretStr:
        return "*secret* string"
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[block](#{anchors[annotation]})"
    args = _union_args(annotation)
    if args is not None:
        kinds = [_type(arg, anchors) for arg in args if arg is not type(None)]
        if type(None) in args:
            kinds.append("`null`")
        return " or ".join(kinds)
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{value}`" for value in typing.get_args(annotation))
    if origin is list:
        return "list of " + _type(typing.get_args(annotation)[0], anchors)
    if origin is dict:
        value = typing.get_args(annotation)[1]
        return "mapping, *any keys*" if value is Any else "mapping of names to " + _type(value, anchors)
    raise TypeError(f"the apps file reference cannot name the type {annotation!r}")


def _constraints(info: FieldInfo) -> str:
    limits: dict[str, Any] = {}
    for item in info.metadata:
        for name in ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern"):
            value = getattr(item, name, None)
            if value is not None:
                limits[name] = value
    said = []
    if "ge" in limits and "le" in limits:
        said.append(f"{limits['ge']} to {limits['le']}")
    else:
        said += [
            f"{word} {limits[name]}"
            for name, word in (("ge", ">="), ("gt", ">"), ("le", "<="))
            if name in limits
        ]
    if "lt" in limits:
        said.append(f"< {limits['lt']}")
    low, high = limits.get("min_length"), limits.get("max_length")
    if high is not None:
        said.append(f"{low or 0} to {high} long" if low else f"at most {high} long")
    elif low is not None:
        said.append(f"at least {low} long")
    if "pattern" in limits:
        said.append(f"matching `{limits['pattern']}`")
    return "".join(f", {part}" for part in said)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True, validated_data={})
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, BaseModel):
        return "its defaults"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, Decimal):
        return f"`{value}`"
    return f"`{json.dumps(to_jsonable_python(value), ensure_ascii=False)}`"


def _accepts(model: type[BaseModel], value: Any) -> bool:
    """Whether the block's own validator reads a bare value (``true``, a name) as the whole block."""
    try:
        model.model_validate(value)
    except (ValidationError, ValueError, TypeError):
        return False
    return True


# --- descriptions ----------------------------------------------------------------------------------

# References to the contracts the code follows, which mean nothing to a reader of the page.
_CONTRACT = re.compile(r"\s*\([^()]*§[^()]*\)")
_CODE = re.compile(r"``([^`]+)``")


def _clean(text: str) -> str:
    text = _CODE.sub(r"`\1`", _CONTRACT.sub("", " ".join(text.split())))
    return text


def _docstring(model: type[BaseModel]) -> str:
    """The first paragraph of a block's own docstring (pydantic's inherited one is not a block's)."""
    doc = model.__dict__.get("__doc__")
    if not doc or model.__module__ == "pydantic.main":
        return ""
    return _clean(inspect.cleandoc(doc).split("\n\n")[0])


def _description(model: type[BaseModel], name: str, info: FieldInfo) -> str:
    if info.description:
        return _clean(info.description)
    for cls in model.__mro__:
        if isinstance(cls, type) and issubclass(cls, BaseModel) and cls is not BaseModel:
            said = _written(cls).get(name)
            if said is not None:
                return said or _block_text(info.annotation)
    return ""


def _block_text(annotation: Any) -> str:
    """A block-valued field without words of its own is described by its block."""
    blocks = list(_models_in(annotation))
    return _docstring(blocks[0][1]) if len(blocks) == 1 and not blocks[0][0] else ""


@cache
def _written(cls: type[BaseModel]) -> dict[str, str]:
    """The fields a class declares itself, each with the docstring or comment written with it."""
    source = textwrap.dedent(inspect.getsource(cls))
    lines = source.splitlines()
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    (node,) = ast.parse(source).body
    assert isinstance(node, ast.ClassDef)
    found: dict[str, str] = {}
    for index, statement in enumerate(node.body):
        if not isinstance(statement, ast.AnnAssign) or not isinstance(statement.target, ast.Name):
            continue
        following = node.body[index + 1] if index + 1 < len(node.body) else None
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            found[statement.target.id] = _clean(following.value.value)
            continue
        above: list[str] = []
        line = statement.lineno - 1
        while line >= 1 and lines[line - 1].strip().startswith("#"):
            above.insert(0, comments.get(line, ""))
            line -= 1
        after = [
            comments[n]
            for n in range(statement.lineno, (statement.end_lineno or statement.lineno) + 1)
            if n in comments and not comments[n].startswith(("noqa", "type:"))
        ]
        found[statement.target.id] = _clean(" ".join(above + after))
    return found


# --- Markdown --------------------------------------------------------------------------------------


def _key(name: str, info: FieldInfo) -> str:
    return info.alias if isinstance(info.alias, str) else name


def _heading(path: str) -> str:
    return f"`{path}`"


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def _cell(text: str) -> str:
    # Pipes inside the cell, except those a type already escaped.
    return re.sub(r"(?<!\\)\|", "\\|", text).replace("\n", " ")


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def main(argv: Sequence[str] | None = None) -> None:
    argparse.ArgumentParser(
        prog="python -m difychat.server.domain.apps_reference",
        description="Print the apps file reference (docs/apps-file.md), made from the schema.",
    ).parse_args(argv)
    sys.stdout.write(markdown())


if __name__ == "__main__":
    main()
