"""Models for conversations, their message history and their variables."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from difychat.types._base import DifyModel, Timestamp
from difychat.types.agent import AgentThought, MessageFile, ThoughtsAndFiles
from difychat.types.chat import RetrieverResource

__all__ = [
    "AgentThought",
    "Conversation",
    "ConversationPage",
    "ConversationVariable",
    "ConversationVariablePage",
    "Message",
    "MessageFeedback",
    "MessageFile",
    "MessagePage",
]


class Conversation(DifyModel):
    """A conversation of the current user (``/conversations`` item, rename result)."""

    id: str
    name: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    status: str | None = None
    introduction: str | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None


class ConversationPage(DifyModel):
    """One page of conversations; pass ``data[-1].id`` as ``last_id`` for the next page."""

    limit: int | None = None
    has_more: bool = False
    data: list[Conversation] = Field(default_factory=list)


class MessageFeedback(DifyModel):
    """The current user's own rating of a message."""

    rating: str | None = None


class Message(ThoughtsAndFiles, DifyModel):
    """One question-and-answer turn of a conversation (``/messages`` item).

    For an agent app, ``agent_thoughts`` lists its rounds by ``position`` and ``message_files``
    holds both the user's uploads and the files its tools produced (``assistant_files``).

    Example::

        for message in client.messages(conversation_id, user="alice").data:
            for thought in message.agent_thoughts:
                print(thought.tool_names, thought.observations)
            print(message.answer, [file.url for file in message.assistant_files])
    """

    id: str
    conversation_id: str | None = None
    parent_message_id: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    query: str = ""
    answer: str = ""
    feedback: MessageFeedback | None = None
    retriever_resources: list[RetrieverResource] = Field(default_factory=list)
    created_at: Timestamp | None = None
    agent_thoughts: list[AgentThought] = Field(default_factory=list)
    message_files: list[MessageFile] = Field(default_factory=list)
    status: str | None = None
    error: str | None = None


class MessagePage(DifyModel):
    """One page of history, oldest first; pass ``data[0].id`` as ``first_id`` for older ones."""

    limit: int | None = None
    has_more: bool = False
    data: list[Message] = Field(default_factory=list)


class ConversationVariable(DifyModel):
    """A conversation variable (chatflow apps). Dify sends ``value`` as a string."""

    id: str
    name: str | None = None
    value_type: str | None = None
    value: Any = None
    description: str | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None


class ConversationVariablePage(DifyModel):
    """One page of conversation variables; pass ``data[-1].id`` as ``last_id`` for the next."""

    limit: int | None = None
    has_more: bool = False
    data: list[ConversationVariable] = Field(default_factory=list)
