"""The built-in tool providers, by id (contract §10): ``time`` is also ``langgenius/time/time``.

``definition(provider_id)`` gives a provider's tools' specs without building anything (for
checking an app's tool entries when it is loaded); ``definition(...).build(credentials)`` gives
the provider, its tools ready to invoke.
"""

from __future__ import annotations

from collections.abc import Mapping

from difychat.server.tools.builtin import calculator, searxng, tavily, time, webscraper, wikipedia
from difychat.server.tools.builtin.provider import BuiltinDefinition, BuiltinProvider, BuiltinTool

BUILTINS: Mapping[str, BuiltinDefinition] = {
    d.id: d
    for d in (
        time.DEFINITION,
        calculator.DEFINITION,
        webscraper.DEFINITION,
        wikipedia.DEFINITION,
        searxng.DEFINITION,
        tavily.DEFINITION,
    )
}


def short_id(provider_id: str) -> str:
    """``langgenius/time/time`` -> ``time``; a short id or any other id as it is."""
    parts = provider_id.split("/")
    return parts[2] if len(parts) == 3 and parts[0] == "langgenius" else provider_id


def definition(provider_id: str) -> BuiltinDefinition | None:
    """The built-in provider with this id, in either form; None when there is none."""
    return BUILTINS.get(short_id(provider_id))


__all__ = ["BUILTINS", "BuiltinDefinition", "BuiltinProvider", "BuiltinTool", "definition", "short_id"]
