"""Agent turns: the answer source for an agent app's turn, and its replayed memory.

The chat service prepares an agent turn as it does any other (validation, inputs, files,
rows) and asks here for the source: function calling when the model calls tools, ReAct
otherwise (contract §5). The ``TurnRunner`` runs it like any source.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App, AppConfig, MemorySettings
from difychat.server.providers.base import ChatModel
from difychat.server.services.agent import history
from difychat.server.services.agent.files import Owner, ToolFiles
from difychat.server.services.agent.history import AgentMemory
from difychat.server.services.agent.react import ReActSource
from difychat.server.services.agent.source import AgentRounds, AgentRuntime, AgentTurn, FunctionCallingSource
from difychat.server.services.agent.toolsets import AgentToolsets
from difychat.server.services.prompts import PromptDraft
from difychat.server.tools.registry import BoundTool


class AgentService:
    def __init__(self, engine: AsyncEngine, toolsets: AgentToolsets, runtime: AgentRuntime) -> None:
        self._engine = engine
        self.toolsets = toolsets
        self._runtime = runtime

    @property
    def files(self) -> ToolFiles:
        return self._runtime.files

    async def memory(
        self, config: AppConfig, conversation_id: str | None, memory: MemorySettings
    ) -> AgentMemory:
        """The earlier turns with their tool calls (as text for a ReAct model)."""
        as_text = not config.model.abilities().tool_call
        return await history.load(self._engine, conversation_id, memory, as_text=as_text)

    async def source(
        self,
        app: App,
        config: AppConfig,
        config_id: str,
        model: ChatModel,
        draft: PromptDraft,
        params: dict[str, Any],
        owner: Owner,
        *,
        first_file_position: int = 0,
        extra_tools: Sequence[BoundTool] = (),
    ) -> AgentRounds:
        """``extra_tools``: tools made for this turn (the app's datasets, each a retrieval tool)."""
        abilities = config.model.abilities()
        tools = [*await self.toolsets.tools(app.config, config, config_id), *extra_tools]
        turn = AgentTurn(
            model=model,
            config=config,
            prompt=draft.messages(),
            params=params,
            tools=tools,
            owner=owner,
            abilities=abilities,
            first_file_position=first_file_position,
        )
        if abilities.tool_call:
            return FunctionCallingSource(turn, self._runtime)
        return ReActSource(turn, self._runtime, instruction=draft.system)

    async def close(self) -> None:
        await self.toolsets.close()
