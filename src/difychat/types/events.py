"""Typed events of a streaming chat answer.

Every event carries ``event``, ``conversation_id``, ``message_id``, ``created_at`` and (except
``error``) ``task_id``. Unknown event types become a plain :class:`StreamEvent`, so a server
that adds events (chatflow nodes, TTS...) never breaks iteration.

Text arrives in :class:`MessageEvent` (``message``) or :class:`AgentMessageEvent`
(``agent_message``); both are :class:`TextDeltaEvent`. Dify 1.11-1.12 tags text deltas
``message_file`` when the message has files attached: such an event, recognisable by its
``answer`` key, is parsed as a :class:`MessageEvent` whose ``event`` stays ``"message_file"``.

An agent's answer also carries :class:`AgentThoughtEvent` (each round is published several
times as it fills in: empty, after the model, after the tools) and :class:`MessageFileEvent`
(a file a tool produced). ``ChatStream.collect()`` keeps the last publication of every round.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import Field, ValidationError

from difychat.types._base import DifyModel, Timestamp
from difychat.types.agent import AgentThought, FileIds, MessageFile, ToolSteps
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


M = TypeVar("M", bound=DifyModel)


def _convert(model: type[M], event: DifyModel, fields: dict[str, Any]) -> M:
    """``fields`` as a ``model``, with the event's unknown fields too when they fit it."""
    try:
        return model.model_validate({**(event.model_extra or {}), **fields})
    except ValidationError:
        return model.model_validate(fields)


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


class AgentThoughtEvent(ToolSteps, StreamEvent):
    """``agent_thought``: one round of an agent, re-sent with the same ``id`` as it fills in.

    A function-calling round is typically published three times: empty when the model starts,
    with ``thought``, ``tool`` and ``tool_input`` once the model is done, and with
    ``observation`` (and the ids of produced files in ``message_files``) once the tools have
    run. ``tool_names``, ``tool_inputs`` and ``observations`` decode the tool fields.

    Example::

        for event in stream:
            if isinstance(event, AgentThoughtEvent) and event.observation:
                print(event.tool_names, event.observations)
    """

    id: str | None = None
    position: int | None = None
    thought: str | None = None
    observation: str | None = None
    tool: str | None = None
    tool_labels: dict[str, Any] | None = None
    tool_input: str | None = None
    message_files: FileIds | None = None

    def as_thought(self) -> AgentThought:
        """This publication as the :class:`AgentThought` a history item would hold.

        ``created_at`` is left empty: the event's own is the message's creation time.
        """
        fields = {
            "id": self.id,
            "message_id": self.message_id,
            "position": self.position,
            "thought": self.thought,
            "tool": self.tool,
            "tool_labels": self.tool_labels,
            "tool_input": self.tool_input,
            "observation": self.observation,
            "files": list(self.message_files or []),
        }
        return _convert(AgentThought, self, fields)


class MessageFileEvent(StreamEvent):
    """``message_file``: a file produced by a tool (``belongs_to`` is ``"assistant"``).

    ``url`` is as sent: a remote URL or a signed link to the server's file route, possibly
    relative to the server's origin (``/files/tools/...``).
    """

    id: str | None = None
    type: str | None = None
    belongs_to: str | None = None
    url: str | None = None

    def as_file(self) -> MessageFile:
        """This file as the :class:`MessageFile` a history item would list."""
        fields = {"id": self.id, "type": self.type, "url": self.url, "belongs_to": self.belongs_to}
        return _convert(MessageFile, self, fields)


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
