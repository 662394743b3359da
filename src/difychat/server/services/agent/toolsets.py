"""The tools each agent app may call, bound once per config version.

An app's registry holds the built-ins its entries name (built with the app's
``tools.<provider>.credentials``) and the providers the app declares (OpenAPI documents,
MCP servers), made by the ``AppProviders`` builders the composition root passes in. The
registry comes from the app's live config, so credentials rotate without a restart; the
entries come from the config version a conversation is pinned to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from difychat.server.domain.apps import AppConfig
from difychat.server.tools import builtin
from difychat.server.tools.base import ToolConfigError, ToolProvider
from difychat.server.tools.registry import BoundTool, ToolRegistry, bind, log_skipped

# Makes the providers an app declares (its OpenAPI documents, its MCP servers); no I/O.
AppProviders = Callable[[AppConfig], Sequence[ToolProvider]]


@dataclass(slots=True)
class _AppTools:
    registry: ToolRegistry
    problems: list[str] = field(default_factory=list)


class AgentToolsets:
    def __init__(self, app_providers: Sequence[AppProviders] = ()) -> None:
        self._builders = tuple(app_providers)
        self._apps: dict[str, _AppTools] = {}
        self._bound: dict[str, list[BoundTool]] = {}
        self._reported: set[str] = set()

    def _app(self, config: AppConfig) -> _AppTools:
        """The registry of the app's live config (built once per app)."""
        found = self._apps.get(config.name)
        if found is None:
            found = self._apps[config.name] = _registry(config, self._builders)
        return found

    async def check(self, config: AppConfig) -> list[str]:
        """Why the app cannot start as configured (empty when it can); skipped entries are logged."""
        if not config.is_agent:
            return []
        tools = self._app(config)
        entries, read_problems = config.agent_mode.tool_entries()
        binding = await bind(entries, read_problems, tools.registry, list_dynamic=False)
        log_skipped(config.name, binding.skipped)
        return [*tools.problems, *binding.problems]

    async def tools(self, live: AppConfig, config: AppConfig, config_id: str) -> list[BoundTool]:
        """The tools of ``config`` (a conversation's version), from ``live``'s providers."""
        found = self._bound.get(config_id)
        if found is not None:
            return found
        entries, read_problems = config.agent_mode.tool_entries()
        binding = await bind(entries, read_problems, self._app(live).registry, list_dynamic=True)
        # What the loader would have refused (an older version's entry) is left out, said once.
        if config_id not in self._reported:
            self._reported.add(config_id)
            log_skipped(live.name, [*binding.problems, *binding.skipped])
        # A provider listed at run time (MCP) may answer later: keep its list uncached.
        if not any(e.provider_type == "mcp" for e in entries):
            self._bound[config_id] = binding.tools
        return binding.tools

    async def close(self) -> None:
        for app in self._apps.values():
            for provider in app.registry.providers():
                await provider.close()
        self._apps.clear()


def _registry(config: AppConfig, builders: Sequence[AppProviders]) -> _AppTools:
    problems: list[str] = []
    providers: list[ToolProvider] = []
    entries, _ = config.agent_mode.tool_entries()
    wanted = {builtin.short_id(e.provider_id) for e in entries if e.provider_type == "builtin"}
    for provider_id in sorted(wanted | set(config.tools)):
        definition = builtin.definition(provider_id)
        if definition is None:
            if provider_id in config.tools:
                problems.append(f"tools.{provider_id}: there is no built-in tool provider {provider_id!r}")
            continue
        settings = config.tools.get(provider_id)
        try:
            providers.append(definition.build(settings.credentials if settings is not None else None))
        except ToolConfigError as exc:
            if provider_id in wanted:
                problems.append(str(exc))
    for build in builders:
        try:
            providers.extend(build(config))
        except ToolConfigError as exc:
            problems.append(str(exc))
    return _AppTools(ToolRegistry(providers), problems)
