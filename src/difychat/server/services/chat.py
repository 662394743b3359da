"""A chat turn: validate, choose the answer source, write the rows, hand the turn to the runner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App, AppConfig
from difychat.server.errors import CONVERSATION_NOT_EXISTS, NotFound
from difychat.server.generation.limits import Slot
from difychat.server.generation.registry import DEFAULT_MAX_UNREAD_BYTES, GenerationRegistry
from difychat.server.providers.base import ModelRequest
from difychat.server.services import naming
from difychat.server.services.agent.files import Owner
from difychat.server.services.agent.service import AgentService
from difychat.server.services.agent.source import AgentRounds
from difychat.server.services.annotations import AnnotationService
from difychat.server.services.answer_sources import CHARACTER_DELAY, ModelSource, preset_answer
from difychat.server.services.audio import AudioService
from difychat.server.services.files import FileService
from difychat.server.services.inputs import clean_inputs
from difychat.server.services.models import ModelCatalog
from difychat.server.services.prompts import (
    ConversationMemory,
    Enricher,
    PromptDraft,
    fill_template,
    select_memory,
)
from difychat.server.services.retrieval import agent_tools
from difychat.server.services.retrieval.agent_tools import CitationLog
from difychat.server.services.retrieval.chat import ChatKnowledge, Retrieved
from difychat.server.services.titles import TitleQueue
from difychat.server.services.turn_launch import (
    Citations,
    NewConversation,
    PreparedTurn,
    StartedTurn,
    TurnLauncher,
    model_params,
)
from difychat.server.services.turn_runner import AnswerSource, Finisher, TurnRunner
from difychat.server.store import turn_reads
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.reader import Reader
from difychat.server.store.writer import GroupWriter
from difychat.server.tools.registry import BoundTool

TITLE_CONCURRENCY = 16
ROOT_PARENT_ID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True, slots=True)
class ChatTurn:
    query: str
    inputs: dict[str, Any]
    response_mode: Literal["blocking", "streaming"]
    conversation_id: str | None
    auto_generate_name: bool
    files: list[Any] | None = None


class ChatService:
    def __init__(
        self,
        engine: AsyncEngine,
        writes: GroupWriter,
        registry: GenerationRegistry,
        models: ModelCatalog,
        files: FileService,
        annotations: AnnotationService,
        audio: AudioService,
        *,
        max_generation_seconds: float,
        stream_max_unread_bytes: int = DEFAULT_MAX_UNREAD_BYTES,
        worker_id: str | None = None,
        character_delay: float = CHARACTER_DELAY,
        agents: AgentService | None = None,
        knowledge: ChatKnowledge | None = None,
        reads: Reader,
    ) -> None:
        self._engine = engine
        self._reads = reads
        self._writer = writes
        self._registry = registry
        self._models = models
        self._files = files
        self._annotations = annotations
        self._launcher = TurnLauncher(
            writes,
            registry,
            audio,
            TurnRunner(writes, max_seconds=max_generation_seconds),
            max_unread_bytes=stream_max_unread_bytes,
            worker_id=worker_id,
        )
        self._character_delay = character_delay
        self._agents = agents
        self._knowledge = knowledge
        # Titles are background work: a burst of new conversations queues its title calls
        # instead of opening as many upstream requests beside the answers being streamed.
        self._titles = TitleQueue(registry, writes, concurrency=TITLE_CONCURRENCY)

    def close(self) -> None:
        """At shutdown: no more title calls."""
        self._titles.close()

    async def start(self, app: App, end_user_id: str, turn: ChatTurn, slot: Slot) -> StartedTurn:
        """Everything that can fail is checked before the rows are written and the model is called.

        ``slot`` (the request's concurrency slot, see ``Authenticator.admit_turn``) is given back when
        the generation ends, whether or not anyone still reads it; if this raises, the caller gives it back.
        """
        conversation = None
        history: list[tuple[str, str]] = []
        config_id = app.config_id
        if turn.conversation_id is not None:
            # One read for the conversation and its latest turns, with the live config's memory
            # window; a conversation pinned to a config version with another window reads again.
            window = _memory_window(app.config)
            found, turns = await self._reads.run(
                turn_reads.continued, turn.conversation_id, end_user_id, window
            )
            if found is None:
                raise NotFound(CONVERSATION_NOT_EXISTS)
            conversation = found
            config_id = str(conversation.app_config_id)
            pinned = await self._models.config(app, config_id)
            if _memory_window(pinned) != window:
                turns = await self._reads.run(turn_reads.memory, turn.conversation_id, _memory_window(pinned))
            history = select_memory(turns, pinned.memory)
        config = await self._models.config(app, config_id)
        inputs = clean_inputs(config.form_variables(), turn.inputs)
        # Attached files: validated here, shown to the model, saved with the message.
        attached = await self._files.prepare(
            config.file_upload, turn.files, app_id=app.id, end_user_id=end_user_id
        )
        model = self._models.model(app, config, config_id)
        message_id, task_id = new_id(), new_id()
        conversation_id = turn.conversation_id or new_id()
        source: AnswerSource
        finishers: tuple[Finisher, ...] = ()
        retrieved: Retrieved | None = None
        cited: CitationLog | None = None
        preset = await preset_answer(
            self._annotations, app, config, inputs, turn.query, delay=self._character_delay
        )
        if preset is not None:
            source = preset
        else:
            # The prompt: the system prompt, then what each enricher adds (memory, attached files;
            # retrieved passages plug in here as one more enricher).
            draft = PromptDraft(fill_template(config.pre_prompt, inputs), turn.query)
            agents = self._agents if config.is_agent else None
            remembered: Enricher = ConversationMemory(history)
            if agents is not None:  # earlier turns with their tool calls
                remembered = await agents.memory(config, turn.conversation_id, config.memory)
            enrichers: tuple[Enricher, ...] = (remembered, attached)
            if self._knowledge is not None and config.dataset_configs is not None and agents is None:
                # The app's datasets, searched before the model answers (agents search them as tools).
                retrieved = await self._knowledge.retrieve(
                    config.dataset_configs, turn.query, model, calls_tools=config.model.abilities().tool_call
                )
                if retrieved is not None:
                    enrichers = (retrieved.context, *enrichers)
            for enricher in enrichers:
                enricher.enrich(draft)
            if agents is not None:
                owner = Owner(app.id, conversation_id, message_id)
                dataset_tools: list[BoundTool] = []
                if self._knowledge is not None and config.dataset_configs is not None:
                    # Each of the app's datasets is a retrieval tool the agent may call.
                    dataset_tools, cited = await agent_tools.for_turn(
                        self._knowledge, config.dataset_configs, message_id, self._writer
                    )
                source = agent = await agents.source(
                    app,
                    config,
                    config_id,
                    model,
                    draft,
                    model_params(config),
                    owner,
                    first_file_position=len(attached.attachments),
                    extra_tools=dataset_tools,
                )
                finishers = (agent.moderate_output,)
            else:
                messages = draft.messages()
                model_source = ModelSource(
                    model, ModelRequest(messages=messages, params=model_params(config)), config
                )
                source, finishers = model_source, (model_source.moderate_output,)

        now = utcnow()
        mode = conversation.mode if conversation is not None else app.mode
        prepared = PreparedTurn(
            app=app,
            config=config,
            end_user_id=end_user_id,
            conversation_id=conversation_id,
            message_id=message_id,
            task_id=task_id,
            mode=mode,
            query=turn.query,
            inputs=inputs,
            streaming=turn.response_mode == "streaming",
            files=attached,
            created_at=now,
            new_conversation=None
            if conversation is not None
            else NewConversation(
                app_config_id=config_id,
                mode=mode,
                name=naming.initial_name(turn.query),
                introduction=fill_template(config.opening_statement or "", inputs),
            ),
            parent_message_id=ROOT_PARENT_ID,
            stored_citations=retrieved.stored(message_id, now) if retrieved and retrieved.found else None,
        )
        started = await self._launcher.launch(
            prepared,
            source,
            slot,
            finishers=finishers,
            answer_of=source.answer if isinstance(source, AgentRounds) else None,
            retriever_resources=shown_citations(config, retrieved, cited),
        )
        if conversation is None and turn.auto_generate_name:
            self._titles.request(conversation_id, model, turn.query)
        return started


def _memory_window(config: AppConfig) -> int:
    """How many of a conversation's latest turns the chat model may be shown (0: none; an agent
    reads its memory with its tool calls itself)."""
    if config.is_agent or not config.memory.enabled:
        return 0
    return config.memory.max_messages


def shown_citations(config: AppConfig, retrieved: Retrieved | None, cited: CitationLog | None) -> Citations:
    """``message_end``'s ``retriever_resources``: only when the app shows citations; an agent's
    are known when its answer ends."""
    if not config.retriever_resource.enabled:
        return ()
    if cited is not None:
        return cited.resources
    return () if retrieved is None else tuple(retrieved.resources())
