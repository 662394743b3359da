"""What a built-in provider is: a fixed set of tools, and the credentials it needs to be built."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from difychat.server.tools.base import (
    Tool,
    ToolConfigError,
    ToolContext,
    ToolOutput,
    ToolParameter,
    ToolSpec,
    builtin_labels,
)

Run = Callable[[Mapping[str, Any], ToolContext], Awaitable[Sequence[ToolOutput]]]
Credentials = Mapping[str, str]


@dataclass(slots=True)
class BuiltinTool:
    """A built-in tool: its spec and the coroutine that runs it."""

    spec: ToolSpec
    run: Run

    async def invoke(self, arguments: Mapping[str, Any], context: ToolContext) -> Sequence[ToolOutput]:
        return await self.run(arguments, context)


def spec(
    provider: str,
    name: str,
    description: str,
    parameters: Sequence[ToolParameter],
    label: str,
    **labels: str,
) -> ToolSpec:
    """A built-in tool's spec, with its four-locale label object."""
    return ToolSpec(
        provider_type="builtin",
        provider_id=provider,
        name=name,
        description=description,
        parameters=tuple(parameters),
        labels=builtin_labels(label, **labels),
    )


class BuiltinProvider:
    """The tools of one built-in provider, built with its credentials (a ``ToolProvider``)."""

    provider_type = "builtin"

    def __init__(self, provider_id: str, tools: Sequence[Tool]) -> None:
        self.provider_id = provider_id
        self._tools = tuple(tools)

    async def tools(self) -> Sequence[Tool]:
        return self._tools

    def tool(self, name: str) -> Tool | None:
        return next((t for t in self._tools if t.spec.name == name), None)

    async def close(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class BuiltinDefinition:
    """A built-in provider before it is built: its id, labels, tools' specs and credentials."""

    id: str  # the short id: ``time`` (also known as ``langgenius/time/time``)
    labels: Mapping[str, str]
    specs: tuple[ToolSpec, ...]
    # Builds the tools from the provider's credentials (already checked against the two lists).
    make: Callable[[Credentials], Sequence[Tool]]
    required_credentials: tuple[str, ...] = ()
    optional_credentials: tuple[str, ...] = field(default=())

    def spec(self, name: str) -> ToolSpec | None:
        return next((s for s in self.specs if s.name == name), None)

    def missing_credentials(self, credentials: Mapping[str, SecretStr | str] | None = None) -> list[str]:
        """The required credentials ``credentials`` lacks (for a warning or a refusal at load)."""
        given = _plain(credentials)
        return [name for name in self.required_credentials if not given.get(name)]

    def build(self, credentials: Mapping[str, SecretStr | str] | None = None) -> BuiltinProvider:
        """The provider's tools, with these credentials.

        A credential the provider does not know is a ToolConfigError (a misspelt key would
        otherwise be silently unused). A missing required one is not: the provider is listed
        whether or not an app uses it, and its tools answer ``Please check your tool provider
        credentials`` when called without it (see ``missing_credentials``).
        """
        given = _plain(credentials)
        known = set(self.required_credentials) | set(self.optional_credentials)
        unknown = sorted(set(given) - known)
        if unknown:
            accepted = ", ".join(sorted(known)) or "none"
            raise ToolConfigError(
                f"tool provider {self.id} has no credential {unknown[0]} (it accepts: {accepted})"
            )
        return BuiltinProvider(self.id, self.make(given))


def _plain(credentials: Mapping[str, SecretStr | str] | None) -> dict[str, str]:
    values = (v.get_secret_value() if isinstance(v, SecretStr) else v for v in (credentials or {}).values())
    return {k: v.strip() for k, v in zip((credentials or {}), values, strict=True) if v.strip()}
