"""Which tools an agent app may call: providers by type and id, and the app's entries bound to them.

    built-in providers ─┐
    the app's OpenAPI ──┼─► ToolRegistry ──► bind(entries) ──► [BoundTool]  (+ problems)
    the app's MCP ──────┘

Binding happens when the apps file is loaded (problems refuse the app: an unknown tool, a
missing required form value, a ``select`` value that is not an option) and again, from the
cached lists, when a conversation's config is first used. A provider whose tools are listed
only at run time (an MCP server) is checked for existence at load, and its tools when bound.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from difychat.server.domain.agent import (
    OPTIONAL_LEGACY_TOOLS,
    EntryProblem,
    ToolEntry,
    canonical_provider_id,
)
from difychat.server.providers.base import ToolDefinition
from difychat.server.tools import parameters
from difychat.server.tools.base import Tool, ToolConfigError, ToolProvider, ToolSpec, plain_labels

logger = logging.getLogger("difychat.tools")

# Provider types whose tools are known only by asking the provider at run time.
LISTED_AT_RUN_TIME = frozenset({"mcp"})


def provider_key(provider_type: str, provider_id: str) -> tuple[str, str]:
    return provider_type, canonical_provider_id(provider_type, provider_id)


class ToolRegistry:
    """Tool providers by (type, canonical id); ``time`` and ``langgenius/time/time`` are one."""

    def __init__(self, providers: Iterable[ToolProvider] = ()) -> None:
        self._providers: dict[tuple[str, str], ToolProvider] = {}
        for provider in providers:
            self.add(provider)

    def add(self, provider: ToolProvider) -> None:
        self._providers[provider_key(provider.provider_type, provider.provider_id)] = provider

    def get(self, provider_type: str, provider_id: str) -> ToolProvider | None:
        return self._providers.get(provider_key(provider_type, provider_id))

    def with_providers(self, extra: Iterable[ToolProvider]) -> ToolRegistry:
        """This registry plus ``extra`` (an app's own providers, which win on a clash)."""
        combined = ToolRegistry(self._providers.values())
        for provider in extra:
            combined.add(provider)
        return combined

    def providers(self) -> list[ToolProvider]:
        return list(self._providers.values())


@dataclass(frozen=True, slots=True)
class BoundTool:
    """A tool as one app uses it: the tool, the entry that names it, the values the app fixes."""

    tool: Tool
    entry: ToolEntry
    form: Mapping[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> ToolSpec:
        return self.tool.spec

    @property
    def name(self) -> str:
        return self.tool.spec.name

    def labels(self) -> dict[str, str]:
        """``tool_labels``' object for this tool: its declared labels, else its name."""
        return dict(self.spec.labels) or plain_labels(self.name)

    def definition(self) -> ToolDefinition:
        schema = parameters.model_schema(self.spec)
        return ToolDefinition(schema["name"], schema["description"], schema["parameters"])

    def config(self) -> dict[str, Any]:
        """What the app fixed, for the stored tool meta (secret values left out)."""
        secret = {p.name for p in self.spec.parameters if p.type == "secret-input"}
        return {k: v for k, v in self.form.items() if k not in secret}


@dataclass(slots=True)
class Binding:
    tools: list[BoundTool] = field(default_factory=list)
    # Refuse the app.
    problems: list[str] = field(default_factory=list)
    # Reported and left out (an old-style entry whose tool is not installed).
    skipped: list[str] = field(default_factory=list)


async def bind(
    entries: Sequence[ToolEntry],
    read_problems: Sequence[EntryProblem],
    registry: ToolRegistry,
    *,
    list_dynamic: bool,
) -> Binding:
    """Bind ``entries`` to the registry's tools.

    ``list_dynamic``: ask providers listed at run time (MCP) for their tools; at load time they
    are only required to exist, and their entries are not bound.
    """
    out = Binding()
    for problem in read_problems:
        (out.skipped if problem.skippable else out.problems).append(f"{problem.where}: {problem.message}")
    names: dict[str, tuple[str, tuple[str, str]]] = {}
    for entry in entries:
        where = f"{entry.where} ({entry.provider_type} tool {entry.provider_id}/{entry.tool_name})"
        provider = registry.get(entry.provider_type, entry.provider_id)
        if provider is None:
            message = f"{where}: there is no {entry.provider_type} tool provider {entry.provider_id!r}"
            if entry.legacy in OPTIONAL_LEGACY_TOOLS:
                out.skipped.append(f"{where}: {entry.legacy} is not installed; skipped")
            else:
                out.problems.append(message)
            continue
        if provider.provider_type in LISTED_AT_RUN_TIME and not list_dynamic:
            continue
        try:
            listed = await provider.tools()
        except Exception as exc:  # a provider that cannot list its tools: refused at load, left out later
            line = f"{where}: the provider's tools could not be listed: {exc}"
            (out.skipped if list_dynamic else out.problems).append(line)
            continue
        tool = next((t for t in listed if t.spec.name == entry.tool_name), None)
        if tool is None:
            known = ", ".join(t.spec.name for t in listed) or "none"
            out.problems.append(f"{where}: there is no tool {entry.tool_name!r} (the provider has: {known})")
            continue
        try:
            form = parameters.form_values(tool.spec, entry.tool_parameters)
        except ToolConfigError as exc:
            out.problems.append(f"{where}: {exc}")
            continue
        same = (provider.provider_type, canonical_provider_id(provider.provider_type, provider.provider_id))
        if entry.tool_name in names:
            first_where, first_provider = names[entry.tool_name]
            if first_provider == same:  # listed twice (an old-style entry beside its new form)
                out.skipped.append(f"{where}: the same tool as {first_where}; listed once")
            else:
                out.problems.append(
                    f"{where}: the tool name {entry.tool_name!r} is already used by {first_where}"
                )
            continue
        names[entry.tool_name] = (entry.where, same)
        out.tools.append(BoundTool(tool, entry, form))
    return out


def log_skipped(app: str, skipped: Sequence[str]) -> None:
    for line in skipped:
        logger.warning('app "%s": %s', app, line)
