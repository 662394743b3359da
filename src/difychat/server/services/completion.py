"""A completion turn: one filled-in form, one answer, on the chat turn's pipeline.

A completion app (``mode: completion``) has no memory: each request is prepared like the first turn
of a chat, without history, without an annotation reply and without a title, and gets a
conversation row of its own (as Dify keeps it), so that its message has somewhere to live and
feedback, stop and text to speech find it. The answer comes from the app's model
(``ModelSource``), or from the moderation preset when the inputs are flagged; the one
``TurnRunner`` owns stop, output moderation, usage, the save and the final event.

The prompt follows Dify's for a chat model: the app's ``pre_prompt`` with the inputs filled in is
the user's message; when a request also sends a top-level ``query``, the filled prompt becomes the
system message and the query the user's message. Attached files join the user's message.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from difychat.server.domain.app_modes import COMPLETION
from difychat.server.domain.apps import App
from difychat.server.generation.limits import Slot
from difychat.server.generation.registry import DEFAULT_MAX_UNREAD_BYTES, Generation, GenerationRegistry
from difychat.server.providers.base import ModelRequest
from difychat.server.services import moderation, naming
from difychat.server.services.answer_sources import CHARACTER_DELAY, ModelSource, PresetSource
from difychat.server.services.audio import AudioService
from difychat.server.services.chat import StartedTurn, _model_params
from difychat.server.services.files import FileService
from difychat.server.services.inputs import clean_inputs
from difychat.server.services.models import ModelCatalog
from difychat.server.services.prompts import PromptDraft, fill_template
from difychat.server.services.turn_runner import AnswerSource, Finisher, TurnRunner
from difychat.server.store import writer
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.writer import GroupWriter


@dataclass(frozen=True, slots=True)
class CompletionTurn:
    inputs: dict[str, Any]
    response_mode: Literal["blocking", "streaming"]
    # Dify's request may carry a top-level query beside the form; SDKs send none.
    query: str = ""
    files: list[Any] | None = None


class CompletionService:
    def __init__(
        self,
        writes: GroupWriter,
        registry: GenerationRegistry,
        models: ModelCatalog,
        files: FileService,
        audio: AudioService,
        *,
        max_generation_seconds: float,
        stream_max_unread_bytes: int = DEFAULT_MAX_UNREAD_BYTES,
        worker_id: str | None = None,
        character_delay: float = CHARACTER_DELAY,
    ) -> None:
        self._writer = writes
        self._registry = registry
        self._models = models
        self._files = files
        self._audio = audio
        self._runner = TurnRunner(writes, max_seconds=max_generation_seconds)
        self._max_unread = stream_max_unread_bytes
        self._worker_id = worker_id
        self._character_delay = character_delay

    async def start(self, app: App, end_user_id: str, turn: CompletionTurn, slot: Slot) -> StartedTurn:
        """Check, write the rows, start the answer; ``slot`` is given back when the answer ends
        (if this raises, the caller gives it back)."""
        config = await self._models.config(app, app.config_id)
        inputs = clean_inputs(config.form_variables(), turn.inputs)
        attached = await self._files.prepare(
            config.file_upload, turn.files, app_id=app.id, end_user_id=end_user_id
        )
        model = self._models.model(app, config, app.config_id)
        source: AnswerSource
        finishers: tuple[Finisher, ...] = ()
        preset = moderation.check_inputs(config.sensitive_word_avoidance, inputs, turn.query)
        if preset is not None:
            source = PresetSource(preset, delay=self._character_delay)
        else:
            prompt = fill_template(config.pre_prompt, inputs)
            draft = PromptDraft(prompt, turn.query) if turn.query else PromptDraft("", prompt)
            attached.enrich(draft)
            request = ModelRequest(messages=draft.messages(), params=_model_params(config))
            model_source = ModelSource(model, request, config)
            source, finishers = model_source, (model_source.moderate_output,)

        message_id, task_id, conversation_id = new_id(), new_id(), new_id()
        now = utcnow()
        await self._writer.write(
            writer.new_conversation(
                id=conversation_id,
                app_id=app.id,
                app_config_id=app.config_id,
                end_user_id=end_user_id,
                mode=COMPLETION,
                name=naming.initial_name(turn.query),
                inputs=inputs,
                introduction="",
                status="normal",
                created_at=now,
                updated_at=now,
            ),
            writer.new_message(
                id=message_id,
                app_id=app.id,
                conversation_id=conversation_id,
                end_user_id=end_user_id,
                task_id=task_id,
                parent_message_id=None,  # a completion has no thread
                query=turn.query,
                inputs=inputs,
                answer="",
                status="running",
                error=None,
                prompt_tokens=0,
                completion_tokens=0,
                usage=None,
                retriever_resources=None,
                created_at=now,
                updated_at=now,
                worker_id=self._worker_id,
            ),
            *writer.new_message_files(attached.rows(message_id, app.id)),
        )

        streaming = turn.response_mode == "streaming"
        generation = Generation(
            task_id=task_id,
            message_id=message_id,
            conversation_id=conversation_id,
            app_id=app.id,
            end_user_id=end_user_id,
            created_at=now,
            queue=asyncio.Queue() if streaming else None,
            max_unread_bytes=self._max_unread,
        )
        if streaming:
            speaker = self._audio.speaker_for(app, config)
            if speaker is not None:
                speaker.attach(generation)
        self._registry.start(generation, self._runner.run(generation, source, finishers=finishers))
        assert generation.task is not None
        generation.task.add_done_callback(lambda _: slot.release())
        return StartedTurn(generation, COMPLETION)
