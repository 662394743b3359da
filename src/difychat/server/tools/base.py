"""The tool seam: how a tool declares itself, is invoked, and answers.

A tool never touches the database, the file storage or the model: it gets its
arguments (the model's, merged under the values the app fixes) and a context
(an SSRF-guarded HTTP client, limits), and returns output parts. The agent
answer source turns those parts into the observation text the model reads and
into tool files (contract: dify-agent-contract.md §4, §7, §8).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from difychat.server.net.client import GuardedClient

ParameterType = Literal["string", "number", "boolean", "select", "secret-input", "file", "array", "object"]
# ``llm``: filled by the model (offered in the tool's JSON schema); ``form``: fixed by the app.
ParameterForm = Literal["llm", "form"]


@dataclass(frozen=True, slots=True)
class ToolParameter:
    name: str
    type: ParameterType = "string"
    form: ParameterForm = "llm"
    required: bool = False
    default: Any = None
    description: str = ""
    options: tuple[str, ...] = ()
    # The original JSON schema of an ``array`` / ``object`` parameter (MCP tools), sent as it is.
    schema: Mapping[str, Any] | None = None


# --- what a tool answers -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextOutput:
    text: str


@dataclass(frozen=True, slots=True)
class JsonOutput:
    value: Any
    # False: the value is for the caller's variables only, never shown to the model.
    for_model: bool = True


@dataclass(frozen=True, slots=True)
class LinkOutput:
    url: str
    mime_type: str | None = None


@dataclass(frozen=True, slots=True)
class BlobOutput:
    """A file the tool made (an image, a document): stored as a tool file and shown to the user."""

    data: bytes
    mime_type: str = "application/octet-stream"
    name: str | None = None


ToolOutput = TextOutput | JsonOutput | LinkOutput | BlobOutput


# --- failures: each becomes observation text, never a failed turn (contract §8) -------------------


class ToolError(Exception):
    """A tool failed; ``observation()`` is what the model reads instead of a result."""

    prefix = "tool invoke error"

    def observation(self) -> str:
        return f"{self.prefix}: {self}"


class ToolParameterError(ToolError):
    def observation(self) -> str:
        return f"tool parameters validation error: {self}, please check your tool parameters"


class ToolCredentialsError(ToolError):
    def observation(self) -> str:
        return "Please check your tool provider credentials"


class ToolConfigError(ValueError):
    """A tool cannot be used as the app configures it (found when the app is loaded, not at call time).

    The message names the tool or the parameter; the app must not start with it.
    """


# --- the seam ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What a tool may use while it runs."""

    http: GuardedClient
    timeout: float = 30.0
    max_output_bytes: int = 1024 * 1024
    # The most a tool downloads to answer (a page, a document), before it is reduced to text.
    max_fetch_bytes: int = 10 * 1024 * 1024
    # The current instant, aware (a seam: tests fix it).
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


LOCALES = ("zh_Hans", "en_US", "pt_BR", "ja_JP")


def builtin_labels(en_US: str, **others: str) -> dict[str, str]:
    """A built-in tool's four-locale label object; a locale not given repeats ``en_US`` (contract §6)."""
    given = {"en_US": en_US, **others}
    unknown = set(given) - set(LOCALES)
    if unknown:
        raise ValueError(f"unknown locales: {', '.join(sorted(unknown))}")
    return {locale: given.get(locale, en_US) for locale in LOCALES}


def plain_labels(name: str) -> dict[str, str]:
    """The label object of a tool that is not built in: its name, in English and Chinese (contract §6)."""
    return {"en_US": name, "zh_Hans": name}


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as the app and the model see it."""

    provider_type: str  # builtin | api | mcp | dataset-retrieval
    provider_id: str
    name: str
    description: str
    parameters: Sequence[ToolParameter] = ()
    # Locale -> label, for ``tool_labels`` (contract §6).
    labels: Mapping[str, str] = field(default_factory=dict)


class Tool(Protocol):
    spec: ToolSpec

    async def invoke(self, arguments: Mapping[str, Any], context: ToolContext) -> Sequence[ToolOutput]:
        """Run with ``arguments`` (already merged and cast); raise ``ToolError`` on failure."""
        ...


class ToolProvider(Protocol):
    """A source of tools: the built-ins, an OpenAPI document, an MCP server."""

    provider_type: str
    provider_id: str

    async def tools(self) -> Sequence[Tool]:
        """The provider's tools (an MCP server's may be fetched and cached)."""
        ...

    async def close(self) -> None: ...
