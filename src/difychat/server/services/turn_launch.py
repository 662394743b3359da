"""Launching a prepared turn: the one place that writes its rows and starts its generation.

Chat and completion turns differ in how they are prepared (memory, conversations, the
prompt); once a turn has its answer source, the rest is the same: write the conversation
(new or touched) and the message with its files in one group write, create the
``Generation``, let text-to-speech subscribe, hand the turn to the ``TurnRunner`` and give
the request's concurrency slot back when the answer ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from difychat.server.domain.apps import App, AppConfig
from difychat.server.generation.event_queue import EventQueue
from difychat.server.generation.limits import Slot
from difychat.server.generation.registry import Generation, GenerationRegistry
from difychat.server.services.audio import AudioService
from difychat.server.services.files import PreparedFiles
from difychat.server.services.turn_runner import AnswerSource, Finisher, TurnRunner
from difychat.server.store import writer
from difychat.server.store.writer import GroupWriter, Write

Citations = tuple[dict[str, Any], ...] | Callable[[], tuple[dict[str, Any], ...]]


@dataclass(frozen=True, slots=True)
class StartedTurn:
    generation: Generation
    mode: str


@dataclass(frozen=True, slots=True)
class NewConversation:
    """The row of a conversation a turn starts."""

    app_config_id: str
    mode: str
    name: str
    introduction: str


@dataclass(frozen=True, slots=True)
class PreparedTurn:
    """Everything checked and decided; nothing written yet."""

    app: App
    config: AppConfig
    end_user_id: str
    conversation_id: str
    message_id: str
    task_id: str
    mode: str
    query: str
    inputs: dict[str, Any]
    streaming: bool
    files: PreparedFiles
    created_at: datetime
    # Set when the turn starts a conversation; else the conversation is only touched.
    new_conversation: NewConversation | None
    parent_message_id: str | None
    # Citations stored with the message (whether or not the app shows them).
    stored_citations: list[dict[str, Any]] | None = None


class TurnLauncher:
    def __init__(
        self,
        writes: GroupWriter,
        registry: GenerationRegistry,
        audio: AudioService,
        runner: TurnRunner,
        *,
        max_unread_bytes: int,
        worker_id: str | None,
    ) -> None:
        self._writer = writes
        self._registry = registry
        self._audio = audio
        self._runner = runner
        self._max_unread = max_unread_bytes
        self._worker_id = worker_id

    async def launch(
        self,
        turn: PreparedTurn,
        source: AnswerSource,
        slot: Slot,
        *,
        finishers: tuple[Finisher, ...] = (),
        answer_of: Callable[[str], str] | None = None,
        retriever_resources: Citations = (),
    ) -> StartedTurn:
        # The rows are committed while the model is asked: the runner emits nothing and saves
        # nothing before they are (see TurnRunner.run's ``rows``).
        rows = self._writer.queue(*self._rows(turn))
        generation = Generation(
            task_id=turn.task_id,
            message_id=turn.message_id,
            conversation_id=turn.conversation_id,
            app_id=turn.app.id,
            end_user_id=turn.end_user_id,
            created_at=turn.created_at,
            # A blocking request reads only the final event; the deltas need no queue.
            queue=EventQueue() if turn.streaming else None,
            max_unread_bytes=self._max_unread,
        )
        if turn.streaming:
            # Text-to-speech auto-play subscribes to the answer like the HTTP stream does.
            speaker = self._audio.speaker_for(turn.app, turn.config)
            if speaker is not None:
                speaker.attach(generation)
        self._registry.start(
            generation,
            self._runner.run(
                generation,
                source,
                finishers=finishers,
                answer_of=answer_of,
                retriever_resources=retriever_resources,
                rows=rows,
            ),
        )
        assert generation.task is not None
        generation.task.add_done_callback(lambda _: slot.release())
        return StartedTurn(generation, turn.mode)

    def _rows(self, turn: PreparedTurn) -> list[Write]:
        now = turn.created_at
        new = turn.new_conversation
        rows: list[Write] = []
        if new is not None:
            rows.append(
                writer.new_conversation(
                    id=turn.conversation_id,
                    app_id=turn.app.id,
                    app_config_id=new.app_config_id,
                    end_user_id=turn.end_user_id,
                    mode=new.mode,
                    name=new.name,
                    inputs=turn.inputs,
                    introduction=new.introduction,
                    status="normal",
                    created_at=now,
                    updated_at=now,
                )
            )
        else:
            rows.append(writer.touch_conversation(turn.conversation_id, now))
        rows.append(
            writer.new_message(
                id=turn.message_id,
                app_id=turn.app.id,
                conversation_id=turn.conversation_id,
                end_user_id=turn.end_user_id,
                task_id=turn.task_id,
                parent_message_id=turn.parent_message_id,
                query=turn.query,
                inputs=turn.inputs,
                answer="",
                status="running",
                error=None,
                prompt_tokens=0,
                completion_tokens=0,
                usage=None,
                retriever_resources=turn.stored_citations,
                created_at=now,
                updated_at=now,
                worker_id=self._worker_id,
            )
        )
        rows.extend(writer.new_message_files(turn.files.rows(turn.message_id, turn.app.id)))
        return rows


def model_params(config: AppConfig) -> dict[str, Any]:
    """The completion parameters sent to the model (the echo provider's own ``delay`` stays here)."""
    params = dict(config.model.completion_params)
    if config.model.provider != "echo":
        params.pop("delay", None)
    return params
