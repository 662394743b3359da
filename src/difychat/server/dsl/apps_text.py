"""Adding an app to an apps file's text, keeping the rest of the file (comments included) as it is.

The new entry is rendered as YAML and inserted after the last item of the top-level ``apps:``
block, indented like the items already there. When the file's shape does not allow that (a
flow-style list, an unusual layout) the file is rewritten from its data, without its comments,
and the caller is told. Either way the result is checked to read back as the old data plus the
new entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

_APPS_KEY = re.compile(r"^apps\s*:\s*(#.*)?$")
_TOP_LEVEL_KEY = re.compile(r"^[^\s#-][^:]*:")
_ITEM = re.compile(r"^(\s*)-\s")


class AppsFileError(Exception):
    """The apps file cannot take the entry (not YAML, not a mapping, no list of apps)."""


@dataclass(frozen=True, slots=True)
class Added:
    text: str
    # False when the file had to be rewritten from its data (its comments are lost).
    kept_layout: bool


def render_entry(entry: dict[str, Any]) -> str:
    """One ``apps:`` item; texts of several lines as literal blocks."""
    return yaml.dump([entry], Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)


def render_file(entries: list[dict[str, Any]]) -> str:
    return "apps:\n" + "".join(render_entry(e) for e in entries)


def existing_names(text: str) -> list[str]:
    data = _data(text)
    apps = data.get("apps") or []
    return [a["name"] for a in apps if isinstance(a, dict) and isinstance(a.get("name"), str)]


def add_entry(text: str, entry: dict[str, Any]) -> Added:
    data = _data(text)
    apps = data.get("apps")
    if apps is not None and not isinstance(apps, list):
        raise AppsFileError("its apps key is not a list")
    expected = {**data, "apps": [*(apps or []), entry]}
    inserted = _insert(text, entry, has_apps="apps" in data)
    if inserted is not None and _data(inserted) == expected:
        return Added(inserted, True)
    rewritten = yaml.dump(expected, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100)
    return Added(rewritten, False)


def _data(text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise AppsFileError(f"it is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AppsFileError("it is not a mapping with an apps list")
    return data


def _insert(text: str, entry: dict[str, Any], *, has_apps: bool) -> str | None:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    item = render_entry(entry)
    if not has_apps:
        return "".join(lines) + ("\n" if lines else "") + "apps:\n" + item
    start = next((i for i, line in enumerate(lines) if _APPS_KEY.match(line.rstrip("\n"))), None)
    if start is None:
        return None  # apps: with something on its line (a flow list, a tag): rewrite
    end = next((i for i in range(start + 1, len(lines)) if _TOP_LEVEL_KEY.match(lines[i])), len(lines))
    body = range(start + 1, end)
    indent = next((m.group(1) for i in body if (m := _ITEM.match(lines[i]))), "")
    # After the block's last line of content (comments at column 0 before the next key stay there).
    last = max((i for i in body if lines[i].strip() and not lines[i].startswith("#")), default=start)
    shown = "".join(f"{indent}{line}" if line.strip() else line for line in item.splitlines(keepends=True))
    return "".join(lines[: last + 1]) + shown + "".join(lines[last + 1 :])


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)
