"""Reading a DSL file: the size cap, YAML, the version, the app's mode (contract A2, A4, A7).

Everything that can be wrong with the file is found before anything is refused, and refused in
one ``DslRefused`` listing every problem. Workflow and advanced-chat apps are refused with the
node types their graph holds, so the operator knows what a port would involve.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

# Dify caps URL imports at 10 MB; difychat caps files too.
MAX_BYTES = 10 * 1024 * 1024
# YAML aliases can make a small file expand into a huge document: values past this are refused.
MAX_VALUES = 200_000

DEFAULT_VERSION = "0.1.0"
# The version Dify 1.10 to 1.12 writes, and the newest minor version read here.
CURRENT_VERSION = "0.5.0"
NEWEST_MINOR = 7

IMPORTED_MODES = ("chat", "agent-chat", "completion")
_REFUSED_MODES = {
    "advanced-chat": "an advanced-chat (chatflow) app",
    "workflow": "a workflow app",
    "agent": "an agent (Agent Studio) app",
}
_ONLY = "difychat imports chat, agent-chat and completion apps only"
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?$")


class DslRefused(Exception):
    """The file cannot be imported; ``problems`` says every reason found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(slots=True)
class Document:
    """A DSL file of a chat-type app, read and checked."""

    version: str
    mode: str
    app: dict[str, Any]
    model_config: dict[str, Any]
    dependencies: list[Any] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_document(content: bytes | str) -> Document:
    """The file's app, or ``DslRefused`` with every reason it cannot be imported."""
    size = len(content.encode("utf-8") if isinstance(content, str) else content)
    if size > MAX_BYTES:
        raise DslRefused(["File size exceeds the limit of 10MB"])
    if size == 0 or not (content.strip() if isinstance(content, str) else content.strip()):
        raise DslRefused(["Empty content"])
    try:
        text = content if isinstance(content, str) else content.decode("utf-8-sig")
        data = yaml.safe_load(text)
    except UnicodeDecodeError:
        raise DslRefused(["Invalid YAML format: the file is not UTF-8 text"]) from None
    except yaml.YAMLError as exc:
        raise DslRefused([f"Invalid YAML format: {exc}"]) from None
    if not isinstance(data, dict):
        raise DslRefused(["Invalid YAML format: content must be a mapping"])
    if _too_many_values(data):
        raise DslRefused([f"Invalid YAML format: the document expands to more than {MAX_VALUES} values"])

    problems: list[str] = []
    warnings: list[str] = []
    version = _version(data.get("version"), problems, warnings)
    kind = data.get("kind")
    if kind is not None and kind != "app":
        warnings.append(f"kind {kind!r} read as 'app'")

    app = data.get("app")
    mode: Any = None
    if app is None:
        problems.append("Missing app data in YAML content")
    elif not isinstance(app, dict):
        problems.append("app must be a mapping")
    else:
        mode = app.get("mode")
        if mode is None or mode == "":
            problems.append("Missing app.mode (loss app mode)")
        elif not isinstance(mode, str) or (mode not in IMPORTED_MODES and mode not in _REFUSED_MODES):
            problems.append(f"unknown app mode {mode!r}; {_ONLY}")
        elif mode in _REFUSED_MODES:
            raise DslRefused([_refusal(mode, data.get("workflow"))])

    model_config = data.get("model_config")
    if model_config is None:
        problems.append("Missing model_config for chat/agent-chat/completion app")
    elif not isinstance(model_config, dict):
        problems.append("model_config must be a mapping")

    dependencies = data.get("dependencies")
    if dependencies is not None and not isinstance(dependencies, list):
        warnings.append("dependencies is not a list; ignored")
        dependencies = None
    if problems:
        raise DslRefused(problems)
    assert isinstance(app, dict) and isinstance(mode, str) and isinstance(model_config, dict)
    return Document(version, mode, app, model_config, list(dependencies or []), warnings)


def _version(raw: Any, problems: list[str], warnings: list[str]) -> str:
    if raw is None or raw == "":
        return DEFAULT_VERSION
    if not isinstance(raw, str):
        # Dify refuses this ("Invalid version type"); a YAML number is what the author meant.
        warnings.append(f"version {raw!r} is a {type(raw).__name__}, not a string; read as {str(raw)!r}")
    text = str(raw).strip()
    match = _VERSION.match(text)
    if match is None:
        problems.append(
            f"unsupported DSL version {text!r} (expected major.minor.patch, 0.1.0 to 0.{NEWEST_MINOR}.x)"
        )
        return text
    major, minor = int(match.group(1)), int(match.group(2))
    version = f"{major}.{minor}.{int(match.group(3) or 0)}"
    if major != 0 or minor > NEWEST_MINOR:
        problems.append(f"DSL version {version} is newer than difychat reads (0.1.0 to 0.{NEWEST_MINOR}.x)")
    elif _newer(version, CURRENT_VERSION):
        warnings.append(
            f"DSL version {version} is newer than {CURRENT_VERSION} (Dify 1.12); chat-app settings are "
            "read as in that version"
        )
    return version


def _newer(version: str, than: str) -> bool:
    return tuple(int(p) for p in version.split(".")) > tuple(int(p) for p in than.split("."))


def _refusal(mode: str, workflow: Any) -> str:
    counts: dict[str, int] = {}
    graph = workflow.get("graph") if isinstance(workflow, Mapping) else None
    nodes = graph.get("nodes") if isinstance(graph, Mapping) else None
    for node in nodes if isinstance(nodes, list) else []:
        data = node.get("data") if isinstance(node, Mapping) else None
        kind = data.get("type") if isinstance(data, Mapping) else None
        name = kind if isinstance(kind, str) and kind else "unknown"
        counts[name] = counts.get(name, 0) + 1
    listed = ", ".join(f"{name} ×{count}" for name, count in counts.items())
    what = f"with nodes: {listed}" if listed else "with no nodes"
    if mode == "agent":
        what = "(a newer Dify mode, unrelated to agent-chat)"
    return f"this file is {_REFUSED_MODES[mode]} {what}; {_ONLY}"


def _too_many_values(data: Any) -> bool:
    """Whether the document, with its aliases expanded, holds more than ``MAX_VALUES`` values."""
    count = 0
    stack = [data]
    while stack:
        value = stack.pop()
        count += 1
        if count > MAX_VALUES:
            return True
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False
