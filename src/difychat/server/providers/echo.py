"""The ``echo`` provider: a deterministic answer for when no model is configured."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from difychat.server.domain.usage import estimate_tokens
from difychat.server.providers.base import ModelChunk, ModelRequest, ModelResult, TokenUsage

NOTICE = "No model is configured, so this is difychat's echo provider answering. You said: "


def _last_user_text(request: ModelRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "user":
            return message.text()
    return ""


def _prompt_text(request: ModelRequest) -> str:
    return "\n".join(m.content if isinstance(m.content, str) else "" for m in request.messages)


class EchoModel:
    """Streams ``NOTICE + <the user's message>`` word by word, ``delay`` seconds apart."""

    def __init__(self, name: str = "echo", delay: float = 0.02) -> None:
        self.name = name
        self.delay = delay

    def _answer(self, request: ModelRequest) -> str:
        return NOTICE + _last_user_text(request)

    def _usage(self, request: ModelRequest, answer: str) -> TokenUsage:
        return TokenUsage(estimate_tokens(_prompt_text(request)), estimate_tokens(answer))

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelChunk]:
        answer = self._answer(request)
        words = answer.split(" ")
        for index, word in enumerate(words):
            if index and self.delay:
                await asyncio.sleep(self.delay)
            yield ModelChunk(text=word if index == 0 else " " + word)
        yield ModelChunk(usage=self._usage(request, answer))

    async def complete(self, request: ModelRequest) -> ModelResult:
        answer = self._answer(request)
        return ModelResult(answer, self._usage(request, answer))
