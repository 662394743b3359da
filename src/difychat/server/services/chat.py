"""A chat turn: validate, write the rows, run the generation, save the answer once."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App, AppConfig
from difychat.server.domain.events import AnswerReplaced, GenerationFailed, MessageEnded, TextDelta
from difychat.server.domain.usage import Price, Usage, estimate_tokens
from difychat.server.errors import CONVERSATION_NOT_EXISTS, AppError, NotFound
from difychat.server.generation.registry import Generation, GenerationRegistry
from difychat.server.providers.base import ChatModel, ModelRequest, TokenUsage
from difychat.server.services import naming
from difychat.server.services.answer_features import AnswerFeatures
from difychat.server.services.files import FileService
from difychat.server.services.inputs import clean_inputs
from difychat.server.services.models import ModelCatalog
from difychat.server.services.prompts import build_messages, fill_template, select_memory
from difychat.server.services.speech_stream import SentenceSpeaker
from difychat.server.store import conversations as conversation_store
from difychat.server.store import messages as message_store
from difychat.server.store import writer
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.writer import GroupWriter, Write

logger = logging.getLogger("difychat.chat")

TITLE_CONCURRENCY = 16
ROOT_PARENT_ID = "00000000-0000-0000-0000-000000000000"
INTERNAL_FAILURE = GenerationFailed("internal_server_error", 500, "Internal Server Error, please contact support.")


@dataclass(frozen=True, slots=True)
class ChatTurn:
    query: str
    inputs: dict[str, Any]
    response_mode: Literal["blocking", "streaming"]
    conversation_id: str | None
    auto_generate_name: bool
    files: list[Any] | None = None


@dataclass(frozen=True, slots=True)
class StartedTurn:
    generation: Generation
    mode: str
    # Text-to-speech auto-play: the stream ends with tts_message_end, after message_end.
    speech: bool = False


class ChatService:
    def __init__(
        self,
        engine: AsyncEngine,
        writes: GroupWriter,
        registry: GenerationRegistry,
        models: ModelCatalog,
        *,
        max_generation_seconds: float,
        files: FileService | None = None,
        answers: AnswerFeatures | None = None,
    ) -> None:
        self._engine = engine
        self._writer = writes
        self._registry = registry
        self._models = models
        self._max_seconds = max_generation_seconds
        self._files = files
        self._answers = answers
        # Titles are background work: a burst of new conversations queues its title calls here
        # instead of opening as many upstream requests beside the answers being streamed.
        self._titles = asyncio.Semaphore(TITLE_CONCURRENCY)

    async def start(self, app: App, end_user_id: str, turn: ChatTurn) -> StartedTurn:
        """Everything that can fail is checked before the rows are written and the model is called."""
        self._registry.reserve(app.id, app.config.max_active_requests)
        try:
            return await self._start(app, end_user_id, turn)
        except BaseException:
            self._registry.release(app.id)
            raise

    async def _start(self, app: App, end_user_id: str, turn: ChatTurn) -> StartedTurn:
        conversation = None
        history: list[tuple[str, str]] = []
        config_id = app.config_id
        if turn.conversation_id is not None:
            async with self._engine.connect() as conn:
                conversation = await conversation_store.owned(conn, turn.conversation_id, end_user_id)
                if conversation is None:
                    raise NotFound(CONVERSATION_NOT_EXISTS)
                config_id = str(conversation.app_config_id)
                memory = (await self._models.config(app, config_id)).memory
                if memory.enabled and memory.max_messages:
                    rows = await message_store.history_for_memory(
                        conn, turn.conversation_id, limit=memory.max_messages
                    )
                    history = select_memory([(r.query, r.answer) for r in rows], memory)
        config = await self._models.config(app, config_id)
        inputs = clean_inputs(config.form_variables(), turn.inputs)
        # Attached files (services/files.py): validated here, shown to the model, saved with the message.
        attached = await self._files.prepare(config.file_upload, turn.files) if self._files else None
        # Hook (services/answer_features.py): moderation or an annotation may answer without the model.
        direct = await self._answers.direct_answer(app, config, inputs, turn.query) if self._answers else None
        model = self._models.model(app, config, config_id)
        system_prompt = fill_template(config.pre_prompt, inputs)
        request = ModelRequest(
            messages=build_messages(system_prompt, history, turn.query),
            params=_model_params(config),
        )

        if attached is not None:
            request = ModelRequest(messages=attached.attach_to(request.messages), params=request.params)
        now = utcnow()
        message_id, task_id = new_id(), new_id()
        conversation_id = turn.conversation_id or new_id()
        mode = conversation.mode if conversation is not None else app.mode
        writes: list[Write] = []
        if conversation is None:
            writes.append(
                writer.new_conversation(
                    id=conversation_id,
                    app_id=app.id,
                    app_config_id=config_id,
                    end_user_id=end_user_id,
                    mode=mode,
                    name=naming.initial_name(turn.query),
                    inputs=inputs,
                    introduction=fill_template(config.opening_statement or "", inputs),
                    status="normal",
                    created_at=now,
                    updated_at=now,
                )
            )
        else:
            writes.append(writer.touch_conversation(conversation_id, now))
        writes.append(
            writer.new_message(
                id=message_id,
                app_id=app.id,
                conversation_id=conversation_id,
                end_user_id=end_user_id,
                task_id=task_id,
                parent_message_id=ROOT_PARENT_ID,
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
            )
        )
        if attached is not None:
            writes.extend(writer.new_message_files(attached.rows(message_id, app.id)))
        await self._writer.write(*writes)

        generation = Generation(
            task_id=task_id,
            message_id=message_id,
            conversation_id=conversation_id,
            app_id=app.id,
            end_user_id=end_user_id,
            created_at=now,
            # A blocking request reads only the final event; the deltas need no queue.
            queue=asyncio.Queue() if turn.response_mode == "streaming" else None,
        )
        # Hook (services/answer_features.py): text-to-speech auto-play of a streaming answer.
        speaker = None
        if self._answers is not None and turn.response_mode == "streaming":
            speaker = self._answers.speaker(app, config, generation)
        if direct is not None and self._answers is not None:
            self._registry.start(generation, self._answers.run_direct(generation, direct, speaker))
        else:
            self._registry.start(generation, self._run(generation, model, request, config, speaker))
        if conversation is None and turn.auto_generate_name:
            self._registry.spawn(self._name(conversation_id, model, turn.query), f"title-{conversation_id}")
        return StartedTurn(generation, mode, speech=speaker is not None)

    async def _run(
        self,
        generation: Generation,
        model: ChatModel,
        request: ModelRequest,
        config: AppConfig,
        speaker: SentenceSpeaker | None = None,
    ) -> None:
        started = time.perf_counter()
        first_at: float | None = None
        parts: list[str] = []
        reported: TokenUsage | None = None
        stopped = False
        failure: GenerationFailed | None = None
        try:
            async with asyncio.timeout(self._max_seconds):
                async for chunk in model.stream(request):
                    if chunk.text:
                        if first_at is None:
                            first_at = time.perf_counter()
                        parts.append(chunk.text)
                        generation.emit(TextDelta(chunk.text))
                        if speaker is not None:
                            speaker.feed(chunk.text)
                    if chunk.usage is not None:
                        reported = chunk.usage
        except asyncio.CancelledError:
            if not generation.stop_requested:
                raise
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            stopped = True
        except TimeoutError:
            stopped = True
        except AppError as exc:
            failure = GenerationFailed(exc.code, exc.status, exc.message)
        except Exception:
            logger.exception("generation %s failed", generation.task_id)
            failure = INTERNAL_FAILURE
        generation.stoppable = False
        finished_at = time.perf_counter()

        answer = "".join(parts)
        # Hook (services/answer_features.py): output moderation replaces a flagged answer.
        replaced = self._answers.replace_output(config, answer) if self._answers and not failure else None
        if replaced is not None:
            generation.emit(AnswerReplaced(replaced))
        if reported is None or stopped:
            prompt_text = "\n".join(m.content for m in request.messages if isinstance(m.content, str))
            reported = TokenUsage(estimate_tokens(prompt_text), estimate_tokens(answer))
        usage = _usage(config, reported, started, first_at, finished_at)
        if replaced is not None:
            answer = replaced
        status = "error" if failure else ("stopped" if stopped else "normal")
        try:
            await self._writer.write(
                writer.finish_message(
                    generation.message_id,
                    answer=answer,
                    status=status,
                    error=failure.message if failure else None,
                    prompt_tokens=usage.prompt_tokens,
                    completion_tokens=usage.completion_tokens,
                    usage=usage.to_wire(),
                    updated_at=utcnow(),
                )
            )
        except Exception:
            logger.exception("saving the answer of %s failed", generation.message_id)
            failure = INTERNAL_FAILURE
        generation.emit(failure or MessageEnded(answer, usage, stopped=stopped))
        if speaker is not None:
            if failure:
                speaker.cancel()
            else:
                await speaker.finish()

    async def _name(self, conversation_id: str, model: ChatModel, query: str) -> None:
        async with self._titles:
            title = await naming.generate_title(model, query)
        await self._writer.write(writer.name_conversation(conversation_id, title, utcnow()))


def _model_params(config: AppConfig) -> dict[str, Any]:
    params = dict(config.model.completion_params)
    if config.model.provider != "echo":
        params.pop("delay", None)
    return params


def _usage(config: AppConfig, tokens: TokenUsage, started: float, first_at: float | None, ended: float) -> Usage:
    pricing = config.model.pricing
    prompt_price = completion_price = None
    if pricing is not None:
        prompt_price = Price(pricing.input, pricing.unit, pricing.currency)
        completion_price = Price(pricing.output, pricing.unit, pricing.currency)
    return Usage(
        prompt_tokens=tokens.prompt_tokens,
        completion_tokens=tokens.completion_tokens,
        prompt_price=prompt_price,
        completion_price=completion_price,
        latency=ended - started,
        time_to_first_token=None if first_at is None else first_at - started,
        time_to_generate=None if first_at is None else ended - first_at,
    )
