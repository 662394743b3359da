"""Datasets inside agents: each of an agent app's datasets is a ``dataset-retrieval`` tool.

Agent contract §14, knowledge contract §15: the tool is named ``dataset_<id with _ for ->``,
described by the dataset's description, and takes one required ``query``. It searches only its
dataset with the dataset's own settings (semantic search of the top 2 when it has none); the
observation is the passages, best first, one per line. The citations of every call of one
answer are gathered (a later call's segments of an already cited document are dropped), kept
with the message as each call ends, and shown in ``message_end`` when the app says so.
"""

from __future__ import annotations

from calendar import timegm
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from difychat.server.domain.agent import ToolEntry
from difychat.server.domain.knowledge import DatasetRecord
from difychat.server.domain.retrieval import DatasetConfigs
from difychat.server.services.retrieval.chat import (
    ChatKnowledge,
    citation,
    context_text,
    default_description,
    own_settings,
)
from difychat.server.services.retrieval.service import KnowledgeSearch, Scored
from difychat.server.store import writer
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.writer import GroupWriter
from difychat.server.tools.base import (
    TextOutput,
    ToolContext,
    ToolOutput,
    ToolParameter,
    ToolSpec,
    plain_labels,
)
from difychat.server.tools.registry import BoundTool

PROVIDER_TYPE = "dataset-retrieval"
# A dataset's own settings, or this many segments by semantic search (contract §15).
AGENT_TOP_K = 2


def tool_name(dataset_id: str) -> str:
    return "dataset_" + dataset_id.replace("-", "_")


@dataclass(slots=True)
class CitationLog:
    """One answer's citations across its tool calls, saved with its message after each call."""

    writes: GroupWriter
    message_id: str
    created_at: int
    retriever_from: str = "api"
    found: list[Scored] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def add(self, items: Sequence[Scored]) -> None:
        cited = {(s.found.segment.dataset_id, s.found.segment.document_id) for s in self.found}
        self.found.extend(
            s for s in items if (s.found.segment.dataset_id, s.found.segment.document_id) not in cited
        )

    def resources(self) -> tuple[dict[str, Any], ...]:
        ranked = sorted(self.found, key=lambda s: -s.score)
        return tuple(citation(item, position, self.retriever_from) for position, item in enumerate(ranked, 1))

    def stored(self) -> list[dict[str, Any]]:
        while len(self.ids) < len(self.found):
            self.ids.append(new_id())
        by_segment = dict(zip((s.found.segment.id for s in self.found), self.ids, strict=True))
        return [
            {
                "id": by_segment[item["segment_id"]],
                "message_id": self.message_id,
                "created_at": self.created_at,
                **item,
            }
            for item in self.resources()
        ]

    async def save(self) -> None:
        # Through the group writer: committed after the message's own row, whenever that lands.
        await self.writes.write(writer.cite_message(self.message_id, self.stored()))


@dataclass(slots=True)
class DatasetTool:
    """The ``Tool`` for one dataset, bound to one answer's citation log."""

    spec: ToolSpec
    dataset: DatasetRecord
    search: KnowledgeSearch
    log: CitationLog

    async def invoke(self, arguments: Mapping[str, Any], context: ToolContext) -> Sequence[ToolOutput]:
        query = str(arguments.get("query") or "")
        plan = self.search.plan(self.dataset, own_settings(self.dataset, AGENT_TOP_K))
        found = await self.search.search(self.dataset, query, plan) if query.strip() else []
        if found:
            self.log.add(found)
            await self.log.save()
        return [TextOutput(context_text(found))]


async def for_turn(
    knowledge: ChatKnowledge, configs: DatasetConfigs, message_id: str, writes: GroupWriter
) -> tuple[list[BoundTool], CitationLog]:
    """One bound tool per dataset the agent app names that exists, and the answer's citations."""
    search = knowledge.search
    log = CitationLog(writes, message_id, seconds(utcnow()))
    out: list[BoundTool] = []
    for dataset in await knowledge.datasets(configs):
        name = tool_name(dataset.id)
        spec = ToolSpec(
            provider_type=PROVIDER_TYPE,
            provider_id=dataset.id,
            name=name,
            description=default_description(dataset),
            parameters=(
                ToolParameter("query", "string", "llm", required=True, description="Query for the dataset"),
            ),
            labels=plain_labels(name),
        )
        entry = ToolEntry(PROVIDER_TYPE, dataset.id, name, {}, where="dataset_configs")
        out.append(BoundTool(DatasetTool(spec, dataset, search, log), entry))
    return out, log


def seconds(value: datetime) -> int:
    return timegm(value.utctimetuple())
