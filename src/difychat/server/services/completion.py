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

from dataclasses import dataclass
from typing import Any, Literal

from difychat.server.domain.app_modes import COMPLETION
from difychat.server.domain.apps import App
from difychat.server.generation.limits import Slot
from difychat.server.generation.registry import DEFAULT_MAX_UNREAD_BYTES, GenerationRegistry
from difychat.server.providers.base import ModelRequest
from difychat.server.services import moderation, naming
from difychat.server.services.answer_sources import CHARACTER_DELAY, ModelSource, PresetSource
from difychat.server.services.audio import AudioService
from difychat.server.services.files import FileService
from difychat.server.services.inputs import clean_inputs
from difychat.server.services.models import ModelCatalog
from difychat.server.services.prompts import PromptDraft, fill_template
from difychat.server.services.turn_launch import (
    NewConversation,
    PreparedTurn,
    StartedTurn,
    TurnLauncher,
    model_params,
)
from difychat.server.services.turn_runner import AnswerSource, Finisher, TurnRunner
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
        self._models = models
        self._files = files
        self._launcher = TurnLauncher(
            writes,
            registry,
            audio,
            TurnRunner(writes, max_seconds=max_generation_seconds),
            max_unread_bytes=stream_max_unread_bytes,
            worker_id=worker_id,
        )
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
            request = ModelRequest(messages=draft.messages(), params=model_params(config))
            model_source = ModelSource(model, request, config)
            source, finishers = model_source, (model_source.moderate_output,)

        prepared = PreparedTurn(
            app=app,
            config=config,
            end_user_id=end_user_id,
            conversation_id=new_id(),
            message_id=new_id(),
            task_id=new_id(),
            mode=COMPLETION,
            query=turn.query,
            inputs=inputs,
            streaming=turn.response_mode == "streaming",
            files=attached,
            created_at=utcnow(),
            new_conversation=NewConversation(
                app_config_id=app.config_id,
                mode=COMPLETION,
                name=naming.initial_name(turn.query),
                introduction="",
            ),
            parent_message_id=None,  # a completion has no thread
        )
        return await self._launcher.launch(prepared, source, slot, finishers=finishers)
