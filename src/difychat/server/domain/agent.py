"""Agent apps in the apps file: ``agent_mode`` with Dify's keys and defaults, and the tool
providers an app declares (built-in settings, OpenAPI documents, MCP servers).

Contract: dify-agent-contract.md §1-§5, §12. ``agent_mode.tools`` stays the list of raw
entries Dify stores (the UI's bookkeeping keys and ``icon`` included, for ``/meta``);
``tool_entries()`` reads it: new-style entries as they are, old-style single-key entries
mapped to the built-in they stand for. Whether a tool exists and its form values fit is
checked against the tool registry when the apps file is loaded (``tools/registry.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, SecretStr, StrictBool, model_validator

from difychat.server.domain.features import Schema

# Strategies that make an app an agent; ``cot`` is the run-time spelling of ``react``.
AGENT_STRATEGIES = frozenset({"function_call", "react", "cot"})
# The runner never goes past this many rounds, whatever the app says (plus the final round).
MAX_ITERATION_CAP = 99
DEFAULT_MAX_ITERATION = 10

PROVIDER_TYPES = ("builtin", "plugin", "api", "workflow", "app", "dataset-retrieval", "mcp")
# Provider types difychat runs; the others are refused when the apps file is loaded.
SUPPORTED_PROVIDER_TYPES = frozenset({"builtin", "api", "mcp", "dataset-retrieval"})
REQUIRED_ENTRY_KEYS = ("provider_type", "provider_id", "tool_name", "tool_parameters")

# Old-style single-key entries (Dify 0.x) and the built-in tool each stands for; ``dataset``
# entries are dataset bindings, not tools.
LEGACY_TOOLS: Mapping[str, tuple[str, str] | None] = {
    "current_datetime": ("time", "current_time"),
    "web_reader": ("webscraper", "webscraper"),
    "wikipedia": ("wikipedia", "wikipedia_search"),
    "google_search": ("google", "google_search"),
    "dataset": None,
}
# Legacy entries that run only when their built-in exists; otherwise they are reported and skipped.
OPTIONAL_LEGACY_TOOLS = frozenset({"wikipedia", "google_search"})

_SHORT_ID = re.compile(r"^[a-z0-9_-]+$")
# Built-in providers that Dify moved into plugins named ``<name>_tool``.
_TOOL_SUFFIXED = frozenset({"jina", "siliconflow", "stepfun", "gitee_ai"})


def canonical_provider_id(provider_type: str, provider_id: str) -> str:
    """A built-in's id in the plugin form (``time`` is ``langgenius/time/time``); others as given."""
    if provider_type not in ("builtin", "plugin") or not _SHORT_ID.match(provider_id):
        return provider_id
    plugin = f"{provider_id}_tool" if provider_id in _TOOL_SUFFIXED else provider_id
    return f"langgenius/{plugin}/{provider_id}"


def short_provider_id(provider_id: str) -> str:
    """The short id of a built-in given either way (``langgenius/time/time`` is ``time``)."""
    parts = provider_id.split("/")
    return parts[2] if len(parts) == 3 and parts[0] == "langgenius" else provider_id


class AgentPrompt(Schema):
    """``agent_mode.prompt`` (ReAct only): templates; a missing one falls back to the built-in."""

    # The ReAct prompt template of the first round.
    first_prompt: str | None = None
    # The template of later rounds.
    next_iteration: str | None = None


@dataclass(frozen=True, slots=True)
class ToolEntry:
    """One usable ``agent_mode.tools`` entry, read from either style."""

    provider_type: str
    provider_id: str
    tool_name: str
    tool_parameters: Mapping[str, Any] = field(default_factory=dict)
    # Where it was written, for messages: ``agent_mode.tools[2]``.
    where: str = ""
    # The old-style key it was read from, if any.
    legacy: str | None = None

    @property
    def canonical_id(self) -> str:
        return canonical_provider_id(self.provider_type, self.provider_id)


@dataclass(frozen=True, slots=True)
class EntryProblem:
    """An entry that cannot be read; ``skippable`` ones are reported and left out, others refuse the app."""

    where: str
    message: str
    skippable: bool = False


class AgentMode(Schema):
    """``agent_mode`` (contract §2): enabled with an agent strategy, the app is an agent that calls
    tools in rounds before it answers."""

    enabled: StrictBool = False
    # function_call or react (cot) make an agent; ``router`` when absent: the legacy dataset router of
    # a chat app, not an agent.
    strategy: str | None = None
    # Rounds with tools (at most 99), then one final round without them.
    max_iteration: int = Field(default=DEFAULT_MAX_ITERATION, ge=1)
    # Dify's tool entries (provider_type, provider_id, tool_name, tool_parameters, enabled), or its
    # old single-key entries.
    tools: list[dict[str, Any]] = Field(default_factory=list)
    prompt: AgentPrompt | None = None

    @property
    def is_agent(self) -> bool:
        """A chat app with this block runs the agent loop (``agent-chat`` apps always do)."""
        return self.enabled and (self.strategy or "router") in AGENT_STRATEGIES

    @property
    def iterations(self) -> int:
        """Rounds with tools; the run has one more, without them."""
        return min(self.max_iteration, MAX_ITERATION_CAP)

    def tool_entries(self) -> tuple[list[ToolEntry], list[EntryProblem]]:
        """The enabled entries in order, and the entries that cannot be read."""
        entries: list[ToolEntry] = []
        problems: list[EntryProblem] = []
        for index, raw in enumerate(self.tools):
            where = f"agent_mode.tools[{index}]"
            for item in _read_entry(raw, where):
                if isinstance(item, EntryProblem):
                    problems.append(item)
                else:
                    entries.append(item)
        return entries, problems


def _read_entry(raw: Mapping[str, Any], where: str) -> Iterator[ToolEntry | EntryProblem]:
    if len(raw) == 1:
        ((key, body),) = raw.items()
        if key in LEGACY_TOOLS:
            yield from _read_legacy(key, body, where)
            return
    missing = [key for key in REQUIRED_ENTRY_KEYS[:3] if key not in raw]
    if missing:
        # Dify's console refuses such an entry with these words, in this order.
        yield EntryProblem(where, f"{missing[0]} is required in agent_mode.tools")
        return
    if not raw.get("enabled", False):
        return
    provider_type, provider_id, tool_name = (raw[key] for key in REQUIRED_ENTRY_KEYS[:3])
    parameters = raw.get("tool_parameters")
    if parameters is None:
        parameters = {}
    if not all(isinstance(v, str) and v for v in (provider_type, provider_id, tool_name)):
        yield EntryProblem(where, "provider_type, provider_id and tool_name must be non-empty strings")
        return
    if not isinstance(parameters, Mapping):
        yield EntryProblem(where, "tool_parameters must be a mapping")
        return
    if provider_type not in PROVIDER_TYPES:
        yield EntryProblem(
            where, f"tool {tool_name}: unknown provider_type {provider_type!r} ({', '.join(PROVIDER_TYPES)})"
        )
        return
    if provider_type not in SUPPORTED_PROVIDER_TYPES:
        yield EntryProblem(
            where,
            f"tool {tool_name} ({provider_type} provider {provider_id}): {provider_type} tools are not "
            "supported; use a built-in, OpenAPI (api) or MCP tool instead",
        )
        return
    yield ToolEntry(provider_type, provider_id, tool_name, dict(parameters), where)


def _read_legacy(key: str, body: Any, where: str) -> Iterator[ToolEntry | EntryProblem]:
    if not isinstance(body, Mapping) or not body.get("enabled", False):
        return
    target = LEGACY_TOOLS[key]
    if target is None:
        yield EntryProblem(where, f"{key}: dataset bindings are not run by agents here; skipped", True)
        return
    provider_id, tool_name = target
    yield ToolEntry("builtin", provider_id, tool_name, {}, where, legacy=key)


# --- capabilities ---------------------------------------------------------------------------------

# What each provider's models can do unless ``model.capabilities`` says otherwise.
_CAPABLE = {"openai", "openai-compatible", "anthropic"}


class ModelCapabilities(Schema):
    """``model.capabilities``: decides function calling (``tool_call``) or ReAct (contract §5).

    Unset values take the provider's default: OpenAI-compatible and Anthropic models call
    tools and stream their calls; the echo model does neither.
    """

    # The model calls tools (function calling); without it, agents run ReAct. Unset: true, except for echo.
    tool_call: StrictBool | None = None
    # The model streams its tool calls.
    stream_tool_call: StrictBool | None = None
    # Images reach the model (default: they do).
    vision: StrictBool | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    tool_call: bool
    stream_tool_call: bool
    vision: bool


def capabilities(provider: str, declared: ModelCapabilities | None) -> Capabilities:
    capable = provider in _CAPABLE
    given = declared or ModelCapabilities()
    tool_call = capable if given.tool_call is None else given.tool_call
    stream = tool_call if given.stream_tool_call is None else given.stream_tool_call
    return Capabilities(
        tool_call=tool_call,
        stream_tool_call=tool_call and stream,
        vision=True if given.vision is None else given.vision,
    )


# --- tool providers an app declares ---------------------------------------------------------------


class BuiltinToolSettings(Schema):
    """``tools.<provider>``: a built-in provider's credentials (an API key for a search service)."""

    # searxng: base_url; tavily: api_key (and base_url); wikipedia: base_url, an api.php URL.
    credentials: dict[str, SecretStr] = Field(default_factory=dict)


class ApiToolCredentials(Schema):
    """How an OpenAPI provider authenticates (Dify's ``credentials`` of a custom tool provider)."""

    # The key goes in a header, in the query string, or nowhere.
    auth_type: Literal["none", "api_key_header", "api_key_query"] = "none"
    # The header that carries the key.
    api_key_header: str = "Authorization"
    # The key.
    api_key_value: SecretStr | None = None
    # What precedes the key in the header: Basic, Bearer, or nothing (custom).
    api_key_header_prefix: Literal["basic", "bearer", "custom"] = "custom"
    # The query parameter that carries the key.
    api_key_query_param: str = "key"


class OpenAPIToolProvider(Schema):
    """``openapi_tools[]``: tools described by an OpenAPI document (``provider_type: api``);
    the entries' ``provider_id`` is ``name``, their ``tool_name`` an operation id."""

    # The provider id its agent_mode.tools entries name.
    name: str = Field(min_length=1, max_length=255)
    # The document itself (JSON or YAML text), or where to read it from.
    openapi: str | None = Field(default=None, description="The OpenAPI document itself (JSON or YAML text).")
    # A file holding it, relative to the apps file.
    openapi_path: str | None = None
    # A URL to fetch it from.
    openapi_url: str | None = None
    credentials: ApiToolCredentials = Field(default_factory=ApiToolCredentials)
    # Headers sent with every call.
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    # Seconds a call may take.
    timeout: float = Field(default=30.0, gt=0)
    description: str = ""
    privacy_policy: str = ""
    custom_disclaimer: str = ""


class McpServer(Schema):
    """``mcp_servers[]``: an MCP server whose tools agents may call (``provider_type: mcp``);
    the entries' ``provider_id`` is ``server_identifier`` (contract §12)."""

    # The provider id its agent_mode.tools entries name.
    server_identifier: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")
    name: str = Field(default="", max_length=40)
    # Streamable HTTP or SSE; ``transport: auto`` chooses by the URL's path.
    server_url: SecretStr | None = None
    # auto: stdio without a server_url, else by the URL's path.
    transport: Literal["auto", "streamable_http", "sse", "stdio"] = "auto"
    # Headers sent with every request.
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    # Seconds a request may take.
    timeout: float = Field(default=30.0, gt=0)
    # Seconds a read of the server's stream may wait.
    sse_read_timeout: float = Field(default=300.0, gt=0)
    # ``transport: stdio`` only (from the apps file, never through an API): the command to run.
    command: list[str] = Field(default_factory=list)
    # stdio only: the command's environment variables.
    env: dict[str, SecretStr] = Field(default_factory=dict)
    # The server's own host may be private or loopback (for its connections only).
    allow_private: StrictBool = False
    # Sessions kept open to the server: calls share one; another opens only while all are busy.
    max_sessions: int = Field(default=1, ge=1, le=32)
    # The tool list is fetched again after this many seconds (0: only when the server announces a change).
    tools_ttl: float = Field(default=300.0, ge=0)

    @model_validator(mode="after")
    def _one_way_to_reach_it(self) -> McpServer:
        stdio = self.transport == "stdio" or (self.transport == "auto" and self.server_url is None)
        if stdio and (self.server_url is not None or not self.command):
            raise ValueError(
                "a stdio MCP server needs command (the program and its arguments) and no server_url"
            )
        if not stdio:
            if self.server_url is None or self.command or self.env:
                raise ValueError("an HTTP MCP server needs server_url (and no command or env)")
            if not self.server_url.get_secret_value().lower().startswith(("http://", "https://")):
                raise ValueError("server_url must start with http:// or https://")
        return self
