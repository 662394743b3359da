"""The protocol every chat model adapter implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from difychat.server.providers.prompt import PromptMessage

__all__ = [
    "ChatModel",
    "ModelChunk",
    "ModelRequest",
    "ModelResult",
    "PromptMessage",
    "TokenUsage",
    "ToolCall",
    "ToolDefinition",
]


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A function the model may call: ``parameters`` is its arguments' JSON schema."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model asked for: ``arguments`` is the JSON text it wrote, unparsed."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ModelRequest:
    messages: list[PromptMessage]
    params: dict[str, Any] = field(default_factory=dict)
    # Offered to a model that calls tools; empty for a plain chat turn.
    tools: tuple[ToolDefinition, ...] = ()


@dataclass(frozen=True, slots=True)
class TokenUsage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class ModelChunk:
    """A piece of a streamed answer: text, the final usage, or the tool calls.

    A provider assembles each call from its streamed pieces and yields the calls once, whole,
    when the model has finished asking (in the order the model numbered them).
    """

    text: str = ""
    usage: TokenUsage | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True, slots=True)
class ModelResult:
    text: str
    usage: TokenUsage | None
    tool_calls: tuple[ToolCall, ...] = ()


class ChatModel(Protocol):
    """A chat model. Failures raise ``difychat.server.errors.ProviderError`` subclasses."""

    name: str

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelChunk]:
        """Yield the answer as it arrives. Closing the iterator must close the upstream call."""
        ...

    async def complete(self, request: ModelRequest) -> ModelResult:
        """The whole answer at once."""
        ...
