"""What a generation emits, independent of how the HTTP layer frames it."""

from __future__ import annotations

from dataclasses import dataclass

from difychat.server.domain.usage import Usage


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class AnswerReplaced:
    answer: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class MessageEnded:
    answer: str
    usage: Usage
    stopped: bool = False


@dataclass(frozen=True, slots=True)
class GenerationFailed:
    code: str
    status: int
    message: str


GenerationEvent = TextDelta | AnswerReplaced | MessageEnded | GenerationFailed
