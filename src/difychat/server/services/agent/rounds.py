"""An agent answer's rounds: each one's state, its ``agent_thought`` event and its stored row.

A round's row is inserted when the round starts and updated each time it is published
(after the model, after the tools): three writes a round at most, through the group
writer, never per token. The wire strings follow the contract (§6): ``tool`` joins the
called names with ``;``, ``tool_input`` and ``observation`` are JSON objects keyed by
name (``", "``/``": "`` separators, non-ASCII unescaped), so a second call of the same
tool in a round shows only the last; every call is kept whole in ``tool_calls``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from difychat.server.domain.events import ThoughtUpdated
from difychat.server.domain.usage import Usage
from difychat.server.store import writer
from difychat.server.store.writer import Write
from difychat.server.tools.invoke import ToolRun


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


@dataclass(slots=True)
class Call:
    id: str
    name: str
    arguments: str
    labels: dict[str, str]
    run: ToolRun | None = None
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Round:
    id: str
    message_id: str
    position: int
    created_at: datetime
    text: list[str] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    usage: Usage | None = None
    # ReAct's thought differs from the streamed text; None: the streamed text.
    thought_override: str | None = None
    # ReAct's action input as the model wrote it (any JSON value), by action name.
    react_input: Any = None

    @property
    def thought(self) -> str:
        return self.thought_override if self.thought_override is not None else "".join(self.text)

    def tool(self) -> str:
        return ";".join(call.name for call in self.calls)

    def tool_labels(self) -> dict[str, Any]:
        return {call.name: call.labels for call in self.calls}

    def tool_input(self) -> str:
        if not self.calls:
            return ""
        if self.react_input is not None:
            return dumps({self.calls[0].name: self.react_input})
        return dumps({call.name: _arguments(call) for call in self.calls})

    def observation(self) -> str:
        ran = [call for call in self.calls if call.run is not None]
        if not ran:
            return ""
        return dumps({call.name: call.run.observation for call in ran if call.run is not None})

    def event(self) -> ThoughtUpdated:
        return ThoughtUpdated(
            id=self.id,
            position=self.position,
            thought=self.thought,
            observation=self.observation(),
            tool=self.tool(),
            tool_labels=self.tool_labels(),
            tool_input=self.tool_input(),
            files=tuple(self.files),
        )

    def insert(self) -> Write:
        return writer.new_agent_thought(
            id=self.id, message_id=self.message_id, created_at=self.created_at, **self._state()
        )

    def update(self) -> Write:
        return writer.update_agent_thought(self.id, self._state())

    def _state(self) -> dict[str, Any]:
        usage = self.usage
        return {
            "position": self.position,
            "thought": self.thought,
            "tool": self.tool(),
            "tool_labels": self.tool_labels(),
            "tool_input": self.tool_input(),
            "observation": self.observation(),
            "tool_meta": {
                call.name: {
                    "time_cost": round(call.run.time_cost, 6) if call.run else 0.0,
                    "error": call.run.error if call.run else None,
                    "tool_config": call.config,
                }
                for call in self.calls
            },
            "tool_calls": [
                {
                    "id": call.id,
                    "name": call.name,
                    "arguments": call.arguments,
                    "observation": call.run.observation if call.run else "",
                }
                for call in self.calls
            ],
            "files": list(self.files),
            "prompt_tokens": usage.prompt_tokens if usage else 0,
            "completion_tokens": usage.completion_tokens if usage else 0,
            "usage": usage.to_wire() if usage else None,
        }


def _arguments(call: Call) -> Any:
    if call.run is not None:
        return call.run.arguments
    try:
        value = json.loads(call.arguments) if call.arguments.strip() else {}
    except ValueError:
        return call.arguments
    return value
