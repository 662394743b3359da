"""Earlier turns of an agent conversation, replayed into the next prompt (contract §6.2).

Each earlier turn is its user query, then for each of its rounds the model's message (its
text and its tool calls) and the tools' results; a turn without rounds is its answer. A
model that calls tools gets typed ``ToolCallPart``/``ToolResultPart`` messages (each call
with its own result, even two calls of one tool); a ReAct model reads the rounds as
``Thought:``/``Action:``/``Observation:`` text. Whole turns are dropped, oldest first,
until the rest fits the memory's token budget.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import MemorySettings
from difychat.server.domain.thoughts import AgentThought, StoredCall
from difychat.server.domain.usage import estimate_tokens
from difychat.server.providers.prompt import Part, PromptMessage, TextPart, ToolCallPart, ToolResultPart
from difychat.server.services.prompts import PromptDraft
from difychat.server.store import agent as agent_store


@dataclass(frozen=True, slots=True)
class AgentMemory:
    """An enricher: the replayed turns, oldest first."""

    history: Sequence[PromptMessage]

    def enrich(self, draft: PromptDraft) -> None:
        draft.history.extend(self.history)


async def load(
    engine: AsyncEngine, conversation_id: str | None, memory: MemorySettings, *, as_text: bool
) -> AgentMemory:
    if conversation_id is None or not memory.enabled or not memory.max_messages:
        return AgentMemory(())
    async with engine.connect() as conn:
        rows = await agent_store.answered_turns(conn, conversation_id, limit=memory.max_messages)
        thoughts = await agent_store.thoughts(conn, [str(row.id) for row in rows])
    chosen: list[list[PromptMessage]] = []
    budget = memory.max_tokens
    for row in rows:  # newest first
        turn = turn_messages(row.query, row.answer, thoughts.get(str(row.id), ()), as_text=as_text)
        cost = sum(_tokens(message) for message in turn)
        if cost > budget:
            break
        budget -= cost
        chosen.append(turn)
    return AgentMemory(tuple(message for turn in reversed(chosen) for message in turn))


def turn_messages(
    query: str, answer: str, rounds: Sequence[AgentThought], *, as_text: bool
) -> list[PromptMessage]:
    out = [PromptMessage("user", query)]
    if not rounds:
        if answer:
            out.append(PromptMessage("assistant", answer))
        return out
    for row in rounds:
        calls = row.calls or _calls_from_wire(row)
        final = [call for call in calls if is_final(call.name)]
        if final:  # a ReAct answer's last round: the answer it gave
            out.append(PromptMessage("assistant", _answer_text(final[0].arguments) or row.thought))
            continue
        if not calls:
            if row.thought:
                out.append(PromptMessage("assistant", row.thought))
        elif as_text:
            out.append(PromptMessage("assistant", scratchpad_text(row.thought, calls)))
        else:
            parts: list[Part] = [TextPart(row.thought)] if row.thought else []
            parts.extend(ToolCallPart(call.id, call.name, call.arguments) for call in calls)
            out.append(PromptMessage("assistant", tuple(parts)))
            out.append(PromptMessage("tool", tuple(ToolResultPart(c.id, c.observation) for c in calls)))
    return out


def is_final(name: str) -> bool:
    """ReAct's ``Final Answer`` action, however a model spelt it."""
    lowered = name.lower()
    return "final" in lowered and "answer" in lowered


def _answer_text(arguments: str) -> str:
    try:
        value = json.loads(arguments) if arguments.strip() else ""
    except ValueError:
        return arguments
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def scratchpad_text(thought: str, calls: Sequence[StoredCall]) -> str:
    """A round as ReAct text: the thought, then each action and what it observed."""
    blocks = [f"Thought: {thought.strip()}"] if thought.strip() else []
    for call in calls:
        try:
            action_input = json.loads(call.arguments) if call.arguments.strip() else {}
        except ValueError:
            action_input = call.arguments
        blob = json.dumps({"action": call.name, "action_input": action_input}, ensure_ascii=False)
        blocks.append(f"Action: ```{blob}```")
        blocks.append(f"Observation: {call.observation}")
    return "\n".join(blocks)


def _calls_from_wire(row: AgentThought) -> tuple[StoredCall, ...]:
    """A row written without its calls (imported): one call per name in ``tool``, its arguments
    and result read from the wire strings."""
    names = [name for name in row.tool.split(";") if name]
    if not names:
        return ()
    inputs = _object(row.tool_input)
    observations = _object(row.observation)
    calls = []
    for name in names:
        arguments = inputs.get(name, {}) if inputs is not None else {}
        if observations is None:
            observation = row.observation
        else:
            found = observations.get(name, "")
            observation = found if isinstance(found, str) else json.dumps(found, ensure_ascii=False)
        calls.append(
            StoredCall(
                f"call_{uuid.uuid4().hex[:24]}",
                name,
                arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False),
                observation,
            )
        )
    return tuple(calls)


def _object(text: str) -> dict[str, object] | None:
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _tokens(message: PromptMessage) -> int:
    if isinstance(message.content, str):
        return estimate_tokens(message.content)
    total = 0
    for part in message.content:
        if isinstance(part, TextPart):
            total += estimate_tokens(part.text)
        elif isinstance(part, ToolCallPart):
            total += estimate_tokens(part.name) + estimate_tokens(part.arguments)
        elif isinstance(part, ToolResultPart):
            total += estimate_tokens(part.content)
    return total
