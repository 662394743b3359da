"""What a generation emits, independent of how the HTTP layer frames it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
    # ``{"id": ..., "account": {"id": ..., "name": ...}}`` when an annotation answered.
    annotation_reply: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class GenerationFailed:
    code: str
    status: int
    message: str


@dataclass(frozen=True, slots=True)
class SpeechChunk:
    """Base64 MP3 audio of the answer so far (text-to-speech auto-play)."""

    audio: str


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    """No more audio follows; with auto-play, the last event of a stream."""


GenerationEvent = TextDelta | AnswerReplaced | MessageEnded | GenerationFailed | SpeechChunk | SpeechEnded
