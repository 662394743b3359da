"""Agent steps and the files an answer carries, as stored with a message.

An agent answers in rounds. Each round is one *thought*: the model's text of that round
(``thought``), the tools it called (``tool``, names joined by ``;``), their arguments
(``tool_input``, a JSON string mapping tool name to arguments) and their results
(``observation``, a JSON string mapping tool name to result text). Files a tool produced are
listed by id in the thought and described in the message's ``message_files``.

The same two models describe a history item (``Message.agent_thoughts``,
``Message.message_files``) and a streamed answer once collected (``ChatMessage.agent_thoughts``,
``ChatMessage.message_files``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator

from difychat.types._base import DifyModel, Timestamp

__all__ = ["AgentThought", "FileIds", "MessageFile", "ThoughtsAndFiles", "ToolSteps"]


def _file_ids(value: Any) -> Any:
    # Ids are strings on the wire; an older server may list file objects instead.
    if not isinstance(value, list):
        return value
    ids: list[Any] = []
    for item in value:
        if isinstance(item, dict):
            item = item.get("id")
        if item is not None:
            ids.append(str(item))
    return ids


FileIds = Annotated[list[str], BeforeValidator(_file_ids)]
"""A list of message-file ids (file objects in the list are reduced to their ``id``)."""


def _per_tool(text: str | None, names: list[str]) -> dict[str, Any]:
    """A ``tool_input``/``observation`` string as ``{tool name: value}``.

    Both are JSON objects keyed by tool name; anything else (plain text, a JSON scalar) belongs
    to the only tool, or to none when there are several.
    """
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    if isinstance(value, dict):
        return value
    return {names[0]: value} if len(names) == 1 else {}


class ToolSteps:
    """Readings of a thought's tool fields, shared by streamed and stored thoughts."""

    if TYPE_CHECKING:
        tool: str | None
        tool_input: str | None
        observation: str | None

    @property
    def tool_names(self) -> list[str]:
        """The tools called in this round, in order (empty when the model called none).

        Example::

            thought.tool          # "current_time;weather"
            thought.tool_names    # ["current_time", "weather"]
        """
        return [name for name in (self.tool or "").split(";") if name]

    @property
    def tool_inputs(self) -> dict[str, Any]:
        """The arguments of each call, by tool name (``tool_input`` decoded).

        Example::

            thought.tool_inputs   # {"current_time": {"timezone": "UTC"}}
        """
        return _per_tool(self.tool_input, self.tool_names)

    @property
    def observations(self) -> dict[str, Any]:
        """The result of each call, by tool name (``observation`` decoded); empty until the
        tools have run.

        Example::

            thought.observations  # {"current_time": "2025-01-01 12:00:00"}
        """
        return _per_tool(self.observation, self.tool_names)


class AgentThought(ToolSteps, DifyModel):
    """One round of an agent's answer: its text, the tools it called and their results.

    ``files`` lists the ids of the files the round's tools produced (look them up in the
    message's ``message_files``). ``chain_id`` is always ``None`` in Dify 1.x.
    """

    id: str | None = None
    chain_id: str | None = None
    message_id: str | None = None
    position: int | None = None
    thought: str | None = None
    tool: str | None = None
    tool_labels: dict[str, Any] | None = None
    tool_input: str | None = None
    created_at: Timestamp | None = None
    observation: str | None = None
    files: FileIds | None = None
    message_files: FileIds | None = None
    """Dify 0.x named ``files`` this way; read ``file_ids`` to cover both."""

    @property
    def file_ids(self) -> list[str]:
        """Ids of the files produced in this round (``files``, or the 0.x ``message_files``)."""
        return list(self.files or self.message_files or [])


TransferMethod = Literal["remote_url", "local_file", "tool_file"]


class MessageFile(DifyModel):
    """A file of a message: uploaded by the user (``belongs_to == "user"``) or produced by a tool
    (``"assistant"``, ``transfer_method == "tool_file"``).

    ``url`` is as the server sent it: a remote URL, or a signed link to the server's own file
    route, which may be relative (``/files/tools/...``) when the server has no public files URL.
    """

    id: str | None = None
    filename: str | None = None
    type: str | None = None
    url: str | None = None
    mime_type: str | None = None
    size: int | None = None
    transfer_method: TransferMethod | str | None = None
    belongs_to: Literal["user", "assistant"] | str | None = None
    upload_file_id: str | None = None


class ThoughtsAndFiles:
    """Lookups over an answer's ``agent_thoughts`` and ``message_files`` (history or collected)."""

    if TYPE_CHECKING:
        agent_thoughts: list[AgentThought]
        message_files: list[MessageFile]

    @property
    def assistant_files(self) -> list[MessageFile]:
        """The files tools produced for this answer (not the user's uploads)."""
        return [file for file in self.message_files if file.belongs_to == "assistant"]

    def files_of(self, thought: AgentThought) -> list[MessageFile]:
        """The files produced in one round, in the order the round lists them.

        Example::

            for thought in message.agent_thoughts:
                for file in message.files_of(thought):
                    print(thought.tool, "made", file.url)
        """
        by_id = {file.id: file for file in self.message_files if file.id}
        return [by_id[file_id] for file_id in thought.file_ids if file_id in by_id]
