"""The agent answer source: rounds of model call then tool calls, until the model answers.

    round n:  row inserted ── model ──► #1 empty thought (first chunk), agent_message deltas
                              model done ──► #2 thought, tool, tool_input
                              tools run ──► message_file per file, #3 observation and files
              the model's calls and the tools' results join the working prompt; next round

Round ``max_iteration + 1`` offers no tools; asking for one there fails the answer with the
max-iteration error. The ``TurnRunner`` owns everything else (stop, timeout, the final save
and event): closing this generator cancels whatever it awaits, a model stream or a tool, and
the round in progress is saved as far as it got (contract: dify-agent-contract.md §6).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from difychat.server.domain.agent import Capabilities
from difychat.server.domain.apps import AppConfig
from difychat.server.domain.events import GenerationEvent, TextDelta
from difychat.server.domain.usage import Price, Usage, estimate_tokens
from difychat.server.errors import InvalidParam
from difychat.server.providers.base import ChatModel, ModelRequest, TokenUsage, ToolCall
from difychat.server.providers.prompt import (
    ImagePart,
    Part,
    PromptMessage,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from difychat.server.services import moderation
from difychat.server.services.agent.files import Owner, ToolFiles
from difychat.server.services.agent.rounds import Call, Round
from difychat.server.services.turn_runner import Timing
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.writer import GroupWriter
from difychat.server.tools.base import ToolContext, plain_labels
from difychat.server.tools.invoke import no_such_tool, run_tool
from difychat.server.tools.registry import BoundTool

IMAGE_PLACEHOLDER = "[image]"


def max_iteration_message(limit: int) -> str:
    return (
        f"Agent exceeded the maximum iteration limit of {limit}. "
        "The agent was unable to complete the task within the allowed number of iterations."
    )


@dataclass(frozen=True, slots=True)
class AgentRuntime:
    """What every agent answer shares: the writer for its rows, its files, its tools' context."""

    writes: GroupWriter
    files: ToolFiles
    context: ToolContext


@dataclass(frozen=True, slots=True)
class AgentTurn:
    """One agent answer's inputs."""

    model: ChatModel
    config: AppConfig
    # The system prompt, the replayed history and the query (with its files).
    prompt: list[PromptMessage]
    params: dict[str, Any]
    tools: Sequence[BoundTool]
    owner: Owner
    abilities: Capabilities
    # Where this answer's files go after the user's attachments.
    first_file_position: int = 0
    tool_by_name: dict[str, BoundTool] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tool_by_name", {tool.name: tool for tool in self.tools})


class AgentRounds:
    """What both strategies share: the rounds, their rows, their usage, the stored answer."""

    annotation_reply: dict[str, Any] | None = None

    def __init__(self, turn: AgentTurn, runtime: AgentRuntime) -> None:
        self._turn = turn
        self._runtime = runtime
        self.rounds: list[Round] = []
        self._files = 0
        # The round whose latest state is not saved yet (saved when the source is closed).
        self._unsaved: Round | None = None
        self._requests: list[ModelRequest] = []

    def events(self) -> AsyncIterator[GenerationEvent]:
        """The answer's events (each strategy's loop)."""
        raise NotImplementedError

    # -- rows ------------------------------------------------------------------------------------

    def open_round(self) -> Round:
        row = Round(new_id(), self._turn.owner.message_id, len(self.rounds) + 1, utcnow())
        self.rounds.append(row)
        self._runtime.writes.submit(row.insert())
        self._unsaved = row
        return row

    def save(self, row: Round) -> None:
        """Queue the row's current state (committed before the answer's final save)."""
        self._runtime.writes.submit(row.update())
        self._unsaved = None

    def touched(self, row: Round) -> None:
        self._unsaved = row

    def save_unsaved(self) -> None:
        if self._unsaved is not None:
            self.save(self._unsaved)

    def call(self, call: ToolCall) -> Call:
        bound = self._turn.tool_by_name.get(call.name)
        labels = bound.labels() if bound is not None else plain_labels(call.name)
        return Call(call.id, call.name, call.arguments, labels, config=bound.config() if bound else {})

    async def run_calls(self, row: Round) -> AsyncIterator[GenerationEvent]:
        """Run the round's calls in order; each file a tool made becomes a ``message_file``."""
        for call in row.calls:
            bound = self._turn.tool_by_name.get(call.name)
            if bound is None:
                call.run = no_such_tool(call.name, call.arguments)
            else:
                call.run = await run_tool(bound, call.arguments, self._runtime.context)
            self.touched(row)
            for produced in call.run.files:
                position = self._turn.first_file_position + self._files
                self._files += 1
                event = await self._runtime.files.save(produced, self._turn.owner, position)
                row.files.append(event.id)
                yield event

    # -- usage -----------------------------------------------------------------------------------

    def round_usage(self, row: Round, request: ModelRequest, reported: TokenUsage | None) -> Usage:
        tokens = reported
        if tokens is None:
            prompt = "\n".join(message.text() for message in request.messages)
            tokens = TokenUsage(estimate_tokens(prompt), estimate_tokens("".join(row.text)))
        prompt_price, completion_price = self._prices()
        return Usage(tokens.prompt_tokens, tokens.completion_tokens, prompt_price, completion_price)

    def _prices(self) -> tuple[Price | None, Price | None]:
        pricing = self._turn.config.model.pricing
        if pricing is None:
            return None, None
        return (
            Price(pricing.input, pricing.unit, pricing.currency),
            Price(pricing.output, pricing.unit, pricing.currency),
        )

    def usage(self, answer: str, *, stopped: bool, timing: Timing) -> Usage:
        """Tokens and prices summed over the rounds; a round cut short is estimated."""
        prompt_tokens = completion_tokens = 0
        for row in self.rounds:
            usage = row.usage
            if usage is None:  # stopped before the model finished this round
                request = self._requests[row.position - 1] if row.position <= len(self._requests) else None
                prompt = "\n".join(m.text() for m in request.messages) if request else ""
                usage = Usage(estimate_tokens(prompt), estimate_tokens("".join(row.text)))
            prompt_tokens += usage.prompt_tokens
            completion_tokens += usage.completion_tokens
        prompt_price, completion_price = self._prices()
        first = timing.first_token
        return Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            prompt_price=prompt_price,
            completion_price=completion_price,
            latency=timing.ended - timing.started,
            time_to_first_token=None if first is None else first - timing.started,
            time_to_generate=None if first is None else timing.ended - first,
        )

    def answer(self, streamed: str) -> str:
        """Every round's text followed by a newline, trimmed (contract §6)."""
        return "".join(row.thought + "\n" for row in self.rounds).strip()

    def moderate_output(self, answer: str) -> str | None:
        return moderation.check_output(self._turn.config.sensitive_word_avoidance, answer)

    # -- prompt ----------------------------------------------------------------------------------

    def request(
        self, messages: list[PromptMessage], *, tools: bool, stop: Sequence[str] = ()
    ) -> ModelRequest:
        params = self._turn.params
        if stop:
            params = {**params, "stop": [*_as_list(params.get("stop")), *stop]}
        offered = tuple(t.definition() for t in self._turn.tools) if tools else ()
        request = ModelRequest(messages=messages, params=params, tools=offered)
        self._requests.append(request)
        return request

    def base_prompt(self, position: int) -> list[PromptMessage]:
        """The prompt before this answer's own rounds: images stay only in round 1, and only
        for a model with vision; afterwards they read as ``[image]``."""
        if position == 1 and self._turn.abilities.vision:
            return list(self._turn.prompt)
        return [_without_images(message) for message in self._turn.prompt]

    def fail_max_iterations(self) -> None:
        """A model still asking for tools in the final round: the answer fails."""
        limit = self._turn.config.agent_mode.max_iteration
        raise InvalidParam(max_iteration_message(limit))

    @property
    def rounds_allowed(self) -> int:
        return self._turn.config.agent_mode.iterations + 1


class FunctionCallingSource(AgentRounds):
    """For models that call tools (contract §6)."""

    async def events(self) -> AsyncIterator[GenerationEvent]:
        turn = self._turn
        working: list[PromptMessage] = []
        try:
            for position in range(1, self.rounds_allowed + 1):
                final = position == self.rounds_allowed
                row = self.open_round()
                request = self.request([*self.base_prompt(position), *working], tools=not final)
                calls: tuple[ToolCall, ...] = ()
                reported: TokenUsage | None = None
                published = False
                if turn.abilities.stream_tool_call:
                    async for chunk in turn.model.stream(request):
                        if not published:
                            published = True
                            yield row.event()
                        if chunk.text:
                            row.text.append(chunk.text)
                            yield TextDelta(chunk.text)
                        if chunk.tool_calls:
                            calls = chunk.tool_calls
                        if chunk.usage is not None:
                            reported = chunk.usage
                else:
                    result = await turn.model.complete(request)
                    published = True
                    yield row.event()
                    if result.text:
                        row.text.append(result.text)
                        yield TextDelta(result.text)
                    calls, reported = result.tool_calls, result.usage
                if not published:
                    yield row.event()
                row.usage = self.round_usage(row, request, reported)
                row.calls = [self.call(call) for call in calls]
                self.save(row)
                yield row.event()
                if not calls:
                    return
                if final:
                    self.fail_max_iterations()
                async for event in self.run_calls(row):
                    yield event
                self.save(row)
                yield row.event()
                working.extend(_round_messages(row))
        finally:
            self.save_unsaved()


def _round_messages(row: Round) -> list[PromptMessage]:
    """The model's turn (its text and calls) and the tools' answers, for the next round."""
    parts: list[Part] = [TextPart(row.thought)] if row.thought else []
    parts.extend(ToolCallPart(call.id, call.name, call.arguments) for call in row.calls)
    results = tuple(
        ToolResultPart(call.id, call.run.observation if call.run else "", bool(call.run and call.run.error))
        for call in row.calls
    )
    return [PromptMessage("assistant", tuple(parts)), PromptMessage("tool", results)]


def _without_images(message: PromptMessage) -> PromptMessage:
    if message.role != "user" or isinstance(message.content, str):
        return message
    if not any(isinstance(part, ImagePart) for part in message.content):
        return message
    parts = tuple(TextPart(IMAGE_PLACEHOLDER) if isinstance(p, ImagePart) else p for p in message.content)
    return PromptMessage(message.role, parts)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]
