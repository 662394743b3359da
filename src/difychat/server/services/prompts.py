"""Prompt assembly: ``{{var}}`` substitution and conversation memory within a budget."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from difychat.server.domain.apps import MemorySettings
from difychat.server.domain.usage import estimate_tokens
from difychat.server.providers.prompt import PromptMessage

_VARIABLE = re.compile(r"\{\{([A-Za-z0-9_]{1,100})\}\}")


def fill_template(template: str, inputs: Mapping[str, Any]) -> str:
    """Replace ``{{name}}`` with the input's value; unknown or empty variables become empty text."""

    def value(match: re.Match[str]) -> str:
        found = inputs.get(match.group(1))
        return "" if found is None else str(found)

    return _VARIABLE.sub(value, template)


def select_memory(turns_newest_first: Sequence[tuple[str, str]], memory: MemorySettings) -> list[tuple[str, str]]:
    """The most recent (query, answer) turns that fit the budget, oldest first."""
    if not memory.enabled:
        return []
    chosen: list[tuple[str, str]] = []
    budget = memory.max_tokens
    for query, answer in turns_newest_first[: memory.max_messages]:
        cost = estimate_tokens(query) + estimate_tokens(answer)
        if cost > budget:
            break
        budget -= cost
        chosen.append((query, answer))
    chosen.reverse()
    return chosen


def build_messages(system_prompt: str, history: Sequence[tuple[str, str]], query: str) -> list[PromptMessage]:
    messages: list[PromptMessage] = []
    if system_prompt.strip():
        messages.append(PromptMessage("system", system_prompt))
    for past_query, past_answer in history:
        messages.append(PromptMessage("user", past_query))
        if past_answer:
            messages.append(PromptMessage("assistant", past_answer))
    messages.append(PromptMessage("user", query))
    return messages
