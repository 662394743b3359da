"""What a generation emits, independent of how the HTTP layer frames it.

An answer source (the model, a preset answer, an agent loop) yields text deltas,
thoughts and files; the turn runner adds the replacement by output moderation
and exactly one final event (``MessageEnded`` or ``GenerationFailed``);
text-to-speech adds audio. Retrieved citations travel on ``MessageEnded``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from difychat.server.domain.usage import Usage


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ThoughtUpdated:
    """An agent round's thought, published each time it changes (``agent_thought``).

    ``position`` counts rounds from 1; ``tool`` holds the round's tool names joined by ``;``;
    ``files`` the ids of files the round's tools produced.
    """

    id: str
    position: int
    thought: str = ""
    observation: str = ""
    tool: str = ""
    tool_labels: dict[str, Any] = field(default_factory=dict)
    tool_input: str = ""
    files: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FileProduced:
    """A file that belongs to the answer (a tool's image, say): ``message_file``."""

    id: str
    type: str
    url: str
    belongs_to: str = "assistant"


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
    # Citations of the knowledge the answer was given, in the contract's shape.
    retriever_resources: tuple[dict[str, Any], ...] = ()


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


GenerationEvent = (
    TextDelta
    | ThoughtUpdated
    | FileProduced
    | AnswerReplaced
    | MessageEnded
    | GenerationFailed
    | SpeechChunk
    | SpeechEnded
)
