"""Typed events of a streaming chat answer.

Every event carries ``event``, ``conversation_id``, ``message_id``, ``created_at`` and (except
``error``) ``task_id``. Unknown event types become a plain :class:`StreamEvent`, so a server
that adds events (chatflow nodes, TTS...) never breaks iteration.

Text arrives in :class:`MessageEvent` (``message``) or :class:`AgentMessageEvent`
(``agent_message``); both are :class:`TextDeltaEvent`. Dify 1.11-1.12 tags text deltas
``message_file`` when the message has files attached: such an event, recognisable by its
``answer`` key, is parsed as a :class:`MessageEvent` whose ``event`` stays ``"message_file"``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from difychat.types._base import DifyModel, Timestamp
from difychat.types.chat import ChatMetadata

__all__ = [
    "AgentMessageEvent",
    "AgentThoughtEvent",
    "ErrorEvent",
    "MessageEndEvent",
    "MessageEvent",
    "MessageFileEvent",
    "MessageReplaceEvent",
    "PingEvent",
    "StreamEvent",
    "TTSMessageEndEvent",
    "TTSMessageEvent",
    "TextDeltaEvent",
    "parse_event",
]


class StreamEvent(DifyModel):
    """Fields common to every event; also the type of events this client does not know."""

    event: str
    conversation_id: str | None = None
    message_id: str | None = None
    created_at: Timestamp | None = None
    task_id: str | None = None


class TextDeltaEvent(StreamEvent):
    """A piece of the answer text."""

    id: str | None = None
    answer: str = ""


class MessageEvent(TextDeltaEvent):
    """``message``: a text delta of a chat app."""

    from_variable_selector: list[str] | None = None


class AgentMessageEvent(TextDeltaEvent):
    """``agent_message``: a text delta of an agent app."""


class AgentThoughtEvent(StreamEvent):
    """``agent_thought``: an agent step; the same ``id`` is re-sent as the step fills in."""

    id: str | None = None
    position: int | None = None
    thought: str | None = None
    observation: str | None = None
    tool: str | None = None
    tool_labels: dict[str, Any] | None = None
    tool_input: str | None = None
    message_files: list[str] | None = None


class MessageFileEvent(StreamEvent):
    """``message_file``: a file produced by a tool (``belongs_to`` is ``"assistant"``)."""

    id: str | None = None
    type: str | None = None
    belongs_to: str | None = None
    url: str | None = None


class MessageReplaceEvent(StreamEvent):
    """``message_replace``: moderation replaced the whole answer with ``answer``."""

    answer: str = ""
    reason: str | None = None


class MessageEndEvent(StreamEvent):
    """``message_end``: the answer is complete (also after a stop); carries usage and citations."""

    id: str | None = None
    metadata: ChatMetadata = Field(default_factory=ChatMetadata)
    files: list[Any] | None = None


class TTSMessageEvent(StreamEvent):
    """``tts_message``: a base64 MP3 chunk of the spoken answer."""

    audio: str = ""


class TTSMessageEndEvent(StreamEvent):
    """``tts_message_end``: the spoken answer is complete."""

    audio: str = ""


class ErrorEvent(StreamEvent):
    """``error``: generation failed; the stream raises the matching ``APIStatusError``."""

    status: int | None = None
    code: str | None = None
    message: str | None = None


class PingEvent(StreamEvent):
    """``event: ping``: a keep-alive with no data (not yielded by the stream iterators)."""


_EVENT_TYPES: dict[str, type[StreamEvent]] = {
    "message": MessageEvent,
    "agent_message": AgentMessageEvent,
    "agent_thought": AgentThoughtEvent,
    "message_file": MessageFileEvent,
    "message_replace": MessageReplaceEvent,
    "message_end": MessageEndEvent,
    "tts_message": TTSMessageEvent,
    "tts_message_end": TTSMessageEndEvent,
    "error": ErrorEvent,
    "ping": PingEvent,
}


def parse_event(payload: dict[str, Any], default_event: str | None = None) -> StreamEvent:
    """Turn one decoded ``data:`` object into the most specific event model.

    ``default_event`` (the SSE ``event:`` name) is used when the JSON has no ``event`` key.
    A payload that does not fit its event's model falls back to a plain :class:`StreamEvent`
    rather than failing the whole stream.
    """
    name = payload.get("event")
    if not isinstance(name, str) or not name:
        name = default_event or "message"
        payload = {**payload, "event": name}
    cls = _EVENT_TYPES.get(name, StreamEvent)
    if name == "message_file" and "answer" in payload:
        cls = MessageEvent
    for candidate in (cls, StreamEvent):
        try:
            return candidate.model_validate(payload)
        except ValidationError:
            continue
    # Even the common fields are malformed: keep the raw values rather than stop the stream.
    return StreamEvent.model_construct(**payload)
