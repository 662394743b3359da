"""The protocol every chat model adapter implements."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from difychat.server.providers.prompt import PromptMessage

__all__ = ["ChatModel", "ModelChunk", "ModelRequest", "ModelResult", "PromptMessage", "TokenUsage"]


@dataclass(frozen=True, slots=True)
class ModelRequest:
    messages: list[PromptMessage]
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TokenUsage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class ModelChunk:
    """A piece of a streamed answer: text, the final usage, or both."""

    text: str = ""
    usage: TokenUsage | None = None


@dataclass(frozen=True, slots=True)
class ModelResult:
    text: str
    usage: TokenUsage | None


class ChatModel(Protocol):
    """A chat model. Failures raise ``difychat.server.errors.ProviderError`` subclasses."""

    name: str

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelChunk]:
        """Yield the answer as it arrives. Closing the iterator must close the upstream call."""
        ...

    async def complete(self, request: ModelRequest) -> ModelResult:
        """The whole answer at once."""
        ...
