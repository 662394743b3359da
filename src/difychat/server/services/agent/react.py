"""ReAct, for models that do not call tools (contract §9).

The model is told, in its system prompt, to answer in cycles of ``Thought:`` and an
``Action:`` holding a fenced JSON blob ``{"action": <tool or "Final Answer">,
"action_input": ...}``; the server stops it at ``Observation``, runs the action, and
shows it the scratchpad so far. Its text streams as ``agent_message`` deltas except the
``Thought:``/``Action:`` labels and the action blobs. The ``Final Answer`` action's input
is the answer, sent as one delta after the loop. difychat differs from Dify in one point:
a round without any action blob ends the answer with its streamed text (Dify stores "").
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from difychat.server.domain.events import GenerationEvent, TextDelta
from difychat.server.domain.thoughts import StoredCall
from difychat.server.providers.base import TokenUsage, ToolCall
from difychat.server.providers.prompt import PromptMessage
from difychat.server.services.agent.history import is_final, scratchpad_text
from difychat.server.services.agent.rounds import Round, dumps
from difychat.server.services.agent.source import AgentRounds, AgentRuntime, AgentTurn
from difychat.server.services.prompts import fill_template
from difychat.server.store.common import new_id
from difychat.server.tools import parameters

STOP_WORD = "Observation"
FINAL_ANSWER = "Final Answer"
EMPTY_THOUGHT = "I am thinking about how to help you"
CONTINUE = "continue"

# {{instruction}}: the app's prompt; {{tools}}: the tools' JSON schemas; {{tool_names}}: their names.
DEFAULT_TEMPLATE = """Help the human as well and as truthfully as you can, following these instructions:
{{instruction}}

These tools are available:
{{tools}}

You act by writing a JSON blob inside a ``` fenced block. It has two keys: "action", the name of a
tool or "Final Answer", and "action_input", what the tool gets (or your answer to the human).
Valid "action" values: "Final Answer" or {{tool_names}}

One action per blob, like this:
```
{
  "action": $TOOL_NAME,
  "action_input": $INPUT
}
```

Work in this cycle:

Question: what the human asks
Thought: what you know and what you will do next
Action:
```
$JSON_BLOB
```
Observation: what the action gave back
... (Thought, Action and Observation as many times as needed)
Thought: I can answer now
Action:
```
{
  "action": "Final Answer",
  "action_input": "your answer to the human"
}
```

Always end with one valid action blob. Call a tool when you need one, otherwise give the Final Answer.
"""


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    input: Any


def action_of(value: Any) -> Action | None:
    """An action from parsed JSON: the key holding ``input`` is the input, the other the name."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, dict):
        return None
    input_keys = [key for key in value if "input" in str(key).lower()]
    name_keys = [key for key in value if key not in input_keys]
    if not name_keys:
        return None
    preferred = next((key for key in name_keys if "action" in str(key).lower()), name_keys[0])
    name = value[preferred]
    if not isinstance(name, str) or not name.strip():
        return None
    return Action(name.strip(), value[input_keys[0]] if input_keys else {})


_LABELS = ("thought:", "action:")
_FENCE = "```"


class ReActParser:
    """Splits a streamed answer into text to show and action blobs, as it arrives.

    Fenced blocks and bare ``{...}`` objects are held back until complete: one that reads as
    an action becomes an ``Action``, any other is shown as text. ``Thought:``/``Action:``
    labels (any case, at the start or after a space or newline) are dropped.
    """

    def __init__(self) -> None:
        self._held = ""  # text that may still turn into a label or a fence
        self._block: list[str] | None = None  # a fenced block or a JSON object being collected
        self._fenced = False
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self._previous = "\n"

    def feed(self, text: str) -> list[str | Action]:
        out: list[str | Action] = []
        for char in text:
            self._char(char, out)
        return _merged(out)

    def end(self) -> list[str | Action]:
        out: list[str | Action] = []
        if self._block is not None:
            self._close_block(out, complete=False)
        if self._held:
            out.append(self._held)
            self._held = ""
        return _merged(out)

    def _char(self, char: str, out: list[str | Action]) -> None:
        if self._block is not None:
            self._block.append(char)
            if self._fenced:
                if "".join(self._block[-3:]) == _FENCE and len(self._block) >= 6:
                    self._close_block(out, complete=True)
            else:
                self._track_json(char, out)
            return
        held = self._held + char
        if held.startswith(_FENCE):
            self._held = ""
            self._block, self._fenced = list(held), True
            return
        if char == "{" and not self._held:
            self._block, self._fenced, self._depth = ["{"], False, 1
            self._in_string = self._escaped = False
            return
        if _FENCE.startswith(held) or (
            self._previous in " \n" and any(label.startswith(held.lower()) for label in _LABELS)
        ):
            if held.lower() in _LABELS:
                self._held = ""
                self._previous = " "
            else:
                self._held = held
            return
        if self._held:
            # Not a label or fence after all: show what was held, then look at this character anew.
            out.append(self._held)
            self._previous = self._held[-1]
            self._held = ""
            self._char(char, out)
            return
        out.append(char)
        self._previous = char

    def _track_json(self, char: str, out: list[str | Action]) -> None:
        if self._in_string:
            if self._escaped:
                self._escaped = False
            elif char == "\\":
                self._escaped = True
            elif char == '"':
                self._in_string = False
            return
        if char == '"':
            self._in_string = True
        elif char == "{":
            self._depth += 1
        elif char == "}":
            self._depth -= 1
            if self._depth == 0:
                self._close_block(out, complete=True)

    def _close_block(self, out: list[str | Action], *, complete: bool) -> None:
        assert self._block is not None
        raw = "".join(self._block)
        self._block = None
        body = raw
        if self._fenced:
            body = raw[3:-3] if complete else raw[3:]
            first, _, rest = body.partition("\n")
            if first.strip().isalpha():  # a language tag: ```json
                body = rest
        try:
            action = action_of(json.loads(body))
        except ValueError:
            action = None
        if action is not None:
            out.append(action)
        else:
            out.append(raw)
        self._previous = raw[-1] if raw else self._previous


def _merged(items: list[str | Action]) -> list[str | Action]:
    out: list[str | Action] = []
    for item in items:
        if isinstance(item, str) and out and isinstance(out[-1], str):
            out[-1] = out[-1] + item
        elif not (isinstance(item, str) and not item):
            out.append(item)
    return out


class ReActSource(AgentRounds):
    def __init__(self, turn: AgentTurn, runtime: AgentRuntime, *, instruction: str) -> None:
        super().__init__(turn, runtime)
        self._instruction = instruction
        self._final: str | None = None
        self._streamed: list[str] = []

    def _system(self, *, tools: bool) -> PromptMessage:
        prompt = self._turn.config.agent_mode.prompt
        template = (prompt.first_prompt if prompt is not None else None) or DEFAULT_TEMPLATE
        offered = self._turn.tools if tools else ()
        schemas = [parameters.model_schema(tool.spec) for tool in offered]
        values = {
            "instruction": self._instruction,
            "tools": json.dumps(schemas, ensure_ascii=False),
            "tool_names": ", ".join(tool.name for tool in offered),
        }
        return PromptMessage("system", fill_template(template, values))

    def _messages(self, position: int, final: bool) -> list[PromptMessage]:
        base = self.base_prompt(position)
        # The prompt has no system message of its own here: the template carries the instruction.
        messages = [self._system(tools=not final), *(m for m in base if m.role != "system")]
        done = self.rounds[:-1]
        if done:
            pad = "\n\n".join(scratchpad_text(row.thought, _stored(row)) for row in done)
            messages += [PromptMessage("assistant", pad), PromptMessage("user", CONTINUE)]
        return messages

    async def events(self) -> AsyncIterator[GenerationEvent]:
        turn = self._turn
        try:
            for position in range(1, self.rounds_allowed + 1):
                final = position == self.rounds_allowed
                row = self.open_round()
                request = self.request(self._messages(position, final), tools=False, stop=(STOP_WORD,))
                parser = ReActParser()
                action: Action | None = None
                reported: TokenUsage | None = None
                yield row.event()
                async for chunk in turn.model.stream(request):
                    if chunk.text:
                        for item in parser.feed(chunk.text):
                            if isinstance(item, Action):
                                action = action or item
                            else:
                                row.text.append(item)
                                yield TextDelta(item)
                    if chunk.usage is not None:
                        reported = chunk.usage
                for item in parser.end():
                    if isinstance(item, Action):
                        action = action or item
                    else:
                        row.text.append(item)
                        yield TextDelta(item)
                row.usage = self.round_usage(row, request, reported)
                text = "".join(row.text)
                row.thought_override = text or EMPTY_THOUGHT
                if action is None:
                    # No action at all: what it wrote is the answer.
                    self._final = text
                    self.save(row)
                    return
                arguments = self._arguments(action)
                row.calls = [self.call(ToolCall(f"call_{new_id()}", action.name, arguments))]
                row.react_input = action.input
                self.save(row)
                if is_final(action.name):
                    self._final = action.input if isinstance(action.input, str) else dumps(action.input)
                    yield TextDelta(self._final)
                    return
                yield row.event()
                if final:
                    self.fail_max_iterations()
                async for event in self.run_calls(row):
                    yield event
                self.save(row)
                yield row.event()
        finally:
            self.save_unsaved()

    def _arguments(self, action: Action) -> str:
        """The action's input as a tool's JSON arguments. A bare value (``"Paris"``) goes to the
        tool's only model parameter, or its first required one."""
        value = action.input
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        if isinstance(value, dict):
            return dumps(value)
        bound = self._turn.tool_by_name.get(action.name)
        wanted = [p for p in bound.spec.parameters if p.form == "llm"] if bound is not None else []
        target = wanted[0] if len(wanted) == 1 else next((p for p in wanted if p.required), None)
        if target is None:
            return dumps(value) if not isinstance(value, str) else value
        return dumps({target.name: action.input})

    def answer(self, streamed: str) -> str:
        """The final answer only; cut short, the text so far."""
        if self._final is not None:
            return self._final
        return "".join("".join(row.text) for row in self.rounds).strip()


def _stored(row: Round) -> Sequence[StoredCall]:
    return [
        StoredCall(call.id, call.name, call.arguments, call.run.observation if call.run else "")
        for call in row.calls
    ]
