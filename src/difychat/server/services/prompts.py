"""Prompt assembly: ``{{var}}`` substitution and conversation memory within a budget."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from difychat.server.domain.apps import MemorySettings
from difychat.server.domain.usage import estimate_tokens
from difychat.server.providers.prompt import Part, PromptMessage, TextPart

_VARIABLE = re.compile(r"\{\{([A-Za-z0-9_]{1,100})\}\}")


def fill_template(template: str, inputs: Mapping[str, Any]) -> str:
    """Replace ``{{name}}`` with the input's value; unknown or empty variables become empty text."""

    def value(match: re.Match[str]) -> str:
        found = inputs.get(match.group(1))
        return "" if found is None else str(found)

    return _VARIABLE.sub(value, template)


def select_memory(
    turns_newest_first: Sequence[tuple[str, str]], memory: MemorySettings
) -> list[tuple[str, str]]:
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


@dataclass(slots=True)
class PromptDraft:
    """A turn's prompt while enrichers add to it, rendered once into messages.

    Enrichers add typed parts, never a provider's format: memory adds earlier turns,
    attached files add documents before the query and images after it, retrieval (next)
    adds passages before the query. Each provider renders the messages its own way.
    """

    system: str
    query: str
    history: list[PromptMessage] = field(default_factory=list)
    before_query: list[Part] = field(default_factory=list)
    after_query: list[Part] = field(default_factory=list)

    def messages(self) -> list[PromptMessage]:
        out = [PromptMessage("system", self.system)] if self.system.strip() else []
        out.extend(self.history)
        if self.before_query or self.after_query:
            out.append(PromptMessage("user", (*self.before_query, TextPart(self.query), *self.after_query)))
        else:
            out.append(PromptMessage("user", self.query))
        return out


class Enricher(Protocol):
    def enrich(self, draft: PromptDraft) -> None:
        """Add this enricher's parts to ``draft``."""
        ...


@dataclass(frozen=True, slots=True)
class ConversationMemory:
    """The earlier turns chosen by ``select_memory``, oldest first."""

    turns: Sequence[tuple[str, str]]

    def enrich(self, draft: PromptDraft) -> None:
        for past_query, past_answer in self.turns:
            draft.history.append(PromptMessage("user", past_query))
            if past_answer:
                draft.history.append(PromptMessage("assistant", past_answer))


def build_messages(system_prompt: str, history: Sequence[tuple[str, str]], query: str) -> list[PromptMessage]:
    """The plain prompt: system, memory, query."""
    draft = PromptDraft(system_prompt, query)
    ConversationMemory(history).enrich(draft)
    return draft.messages()
