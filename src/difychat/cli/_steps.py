"""An agent's tool steps and files in ``difychat chat``: one compact line each, shown once.

An agent publishes every round several times (empty when the model starts, with the tool calls
once the model is done, with the observation once the tools have run). A round's calls are
shown when they first appear and its results when the observation first arrives; nothing is
shown twice. The round's own text is not: it already streamed as the answer.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from difychat.cli._console import Output
from difychat.types import AgentThought, AgentThoughtEvent, MessageFile, MessageFileEvent

INPUT_WIDTH = 80
RESULT_WIDTH = 100


def one_line(text: str, width: int) -> str:
    """``text`` on one line (runs of whitespace become one space), cut to ``width`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3].rstrip() + "..."


def as_text(value: Any) -> str:
    """A tool argument or result for display: strings as they are, the rest as JSON."""
    if value is None or value == {}:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def resolve_url(url: str, base_url: str) -> str:
    """``url`` as a link to open: absolute URLs as given, others against the API's origin.

    Example::

        resolve_url("/files/tools/x.png?sign=...", "http://localhost:5001/v1")
        # "http://localhost:5001/files/tools/x.png?sign=..."
    """
    if urlsplit(url).scheme:
        return url
    base = urlsplit(base_url)
    if url.startswith("//"):
        return f"{base.scheme}:{url}"
    return f"{base.scheme}://{base.netloc}/{url.lstrip('/')}"


class AgentSteps:
    """What one answer has shown of its tool steps and files."""

    def __init__(self, out: Output, *, base_url: str) -> None:
        self.out = out
        self.base_url = base_url
        self._called: set[str] = set()
        self._observed: set[str] = set()
        self._files: set[str] = set()

    def thought(self, thought: AgentThoughtEvent | AgentThought) -> None:
        """Show the round's tool calls, then its results, each the first time they appear."""
        names = thought.tool_names
        if not names:
            return
        key = thought.id or f"position:{thought.position}"
        if key not in self._called:
            self._called.add(key)
            inputs = thought.tool_inputs
            for name in names:
                self.out.tool_call(name, one_line(as_text(inputs.get(name)), INPUT_WIDTH))
        if thought.observation and key not in self._observed:
            self._observed.add(key)
            results = thought.observations or {";".join(names): thought.observation}
            for name, result in results.items():
                self.out.tool_result(name, one_line(as_text(result), RESULT_WIDTH))

    def file(self, file: MessageFileEvent | MessageFile) -> None:
        """Show a file a tool produced as a link, once."""
        if not file.url or file.belongs_to == "user":
            return
        key = file.id or file.url
        if key in self._files:
            return
        self._files.add(key)
        self.out.file_link(resolve_url(file.url, self.base_url), file.type)
