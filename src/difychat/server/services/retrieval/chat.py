"""Chat apps with datasets: search before the model answers, the context in the prompt, citations.

``dataset_configs`` (knowledge contract §12-§14) names the datasets, by id or by name:

* ``multiple``: every dataset is searched at once, each with its own settings (an economy
  dataset by keyword with the app's ``top_k``); with several datasets and reranking on, the
  merged results are reranked (the rerank model, or their weighted scores) to the app's
  ``top_k`` and threshold; otherwise they are filtered by the app's threshold and cut to its
  ``top_k``.
* ``single``: the app's model picks one dataset (each offered as a tool named by its id and
  described by its description) and that dataset is searched with its own settings; one
  dataset, or a model that calls no tools, needs no choice (the first is searched).

The passages go into the system prompt inside ``<context>`` tags, before the app's own prompt,
whenever retrieval ran. Citations (``retriever_resources``) are built for every retrieved
segment, stored with the message, and shown in ``message_end`` when the app says so.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.knowledge import ECONOMY, DatasetRecord
from difychat.server.domain.retrieval import (
    CHAT_TOP_K,
    DatasetConfigs,
    Hit,
    RetrievalModel,
    SearchPlan,
)
from difychat.server.errors import InvalidParam, ProviderNotInitialized
from difychat.server.providers.base import ChatModel, ModelRequest, ToolDefinition
from difychat.server.providers.prompt import PromptMessage
from difychat.server.services.prompts import PromptDraft
from difychat.server.services.retrieval.engine import finish
from difychat.server.services.retrieval.models import NO_RERANK
from difychat.server.services.retrieval.service import KnowledgeSearch, Scored
from difychat.server.store import datasets as dataset_store
from difychat.server.store import knowledge_hits

MIXED_TECHNIQUES = (
    "The configured knowledge base list have different indexing technique, please set reranking model."
)
CONTEXT_BLOCK = """Treat the text between <context></context> tags as knowledge you have learned.
<context>
{context}
</context>
When you answer the user:
- If the knowledge does not tell you, say that you do not know.
- If you are not sure what is asked, ask the user to clarify.
Do not say that your answer comes from the context.
Answer in the language the user's question is written in."""
ROUTER_PROMPT = "Choose the one knowledge base that can best answer the user's question."
ROUTER_TEXT = """These knowledge bases can be searched, each named by its id:
{listing}
Reply with the id of the one knowledge base that can best answer the user's question, and nothing else.
If none of them can, reply with "none"."""
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def default_description(dataset: DatasetRecord) -> str:
    return dataset.description or f"useful for when you want to answer queries about the {dataset.name}"


def context_text(citations: Sequence[Scored]) -> str:
    """The segments best first, one after the other; a Q&A segment as question and answer."""
    parts = []
    for item in sorted(citations, key=lambda c: -c.score):
        segment = item.found.segment
        parts.append(
            f"question:{segment.content} answer:{segment.answer}" if segment.answer else segment.content
        )
    return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class KnowledgeContext:
    """The enricher: the retrieved passages before the app's system prompt."""

    context: str

    def enrich(self, draft: PromptDraft) -> None:
        block = CONTEXT_BLOCK.format(context=self.context)
        draft.system = f"{block}\n{draft.system}" if draft.system.strip() else block


def citation(item: Scored, position: int, retriever_from: str) -> dict[str, Any]:
    """One ``retriever_resources`` item, keys in the contract's order (chat contract §5.4)."""
    found = item.found
    segment = found.segment
    content = f"question:{segment.content} \nanswer:{segment.answer}" if segment.answer else segment.content
    return {
        "position": position,
        "dataset_id": segment.dataset_id,
        "dataset_name": found.dataset_name,
        "document_id": segment.document_id,
        "document_name": found.document_name,
        "data_source_type": found.data_source_type,
        "segment_id": segment.id,
        "retriever_from": retriever_from,
        "score": float(item.score),
        "hit_count": None,
        "word_count": None,
        "segment_position": None,
        "index_node_hash": None,
        "content": content,
        "page": None,
        "doc_metadata": found.doc_metadata,
        "title": None,
        "files": None,
        "summary": None,
    }


@dataclass(slots=True)
class Retrieved:
    """What retrieval found for one turn."""

    found: list[Scored]
    context: KnowledgeContext = field(init=False)

    def __post_init__(self) -> None:
        self.context = KnowledgeContext(context_text(self.found))

    def resources(self, retriever_from: str = "api") -> list[dict[str, Any]]:
        return [citation(item, position, retriever_from) for position, item in enumerate(self.ranked(), 1)]

    def ranked(self) -> list[Scored]:
        return sorted(self.found, key=lambda c: -c.score)

    def stored(
        self, message_id: str, created_at: datetime, retriever_from: str = "api"
    ) -> list[dict[str, Any]]:
        """The citations as the message keeps them: each with a stable id, its message, a time."""
        when = int((created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)).timestamp())
        return [
            {"id": str(uuid.uuid4()), "message_id": message_id, "created_at": when, **item}
            for item in self.resources(retriever_from)
        ]


class ChatKnowledge:
    def __init__(self, engine: AsyncEngine, search: KnowledgeSearch) -> None:
        self._engine = engine
        self._search = search

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @property
    def search(self) -> KnowledgeSearch:
        return self._search

    async def datasets(self, configs: DatasetConfigs) -> list[DatasetRecord]:
        """The datasets ``configs`` names that exist (by id, else by name), each once, in order."""
        out: dict[str, DatasetRecord] = {}
        async with self._engine.connect() as conn:
            for ref in configs.references():
                found = None
                if ref.id:
                    found = await dataset_store.dataset(conn, ref.id) if _is_uuid(ref.id) else None
                    if found is None:
                        found = await dataset_store.dataset_by_name(conn, ref.id)
                elif ref.name:
                    found = await dataset_store.dataset_by_name(conn, ref.name)
                if found is not None and found.provider != "external":
                    out.setdefault(found.id, found)
        return list(out.values())

    async def retrieve(
        self, configs: DatasetConfigs, query: str, model: ChatModel | None, *, calls_tools: bool = True
    ) -> Retrieved | None:
        """Search the app's datasets for ``query``; None when it names none that exist.
        ``calls_tools``: whether ``model`` can pick a dataset by calling a tool (else by text)."""
        datasets = await self.datasets(configs)
        if not datasets:
            return None
        if configs.retrieval_model == "single":
            chosen = await self._route(datasets, query, model, calls_tools)
            if chosen is None:
                return Retrieved([])
            plan = self._search.plan(chosen, own_settings(chosen, CHAT_TOP_K))
            return Retrieved(await self._search.search(chosen, query, plan))
        return Retrieved(await self._multiple(configs, datasets, query))

    async def _route(
        self, datasets: Sequence[DatasetRecord], query: str, model: ChatModel | None, calls_tools: bool
    ) -> DatasetRecord | None:
        """The dataset the model picks for ``query`` (None: it picked none). The call is not
        counted in the message's usage."""
        if len(datasets) == 1 or model is None:
            return datasets[0]
        by_id = {d.id: d for d in datasets}
        if calls_tools:
            tools = tuple(
                ToolDefinition(d.id, default_description(d), {"type": "object", "properties": {}})
                for d in datasets
            )
            messages = [PromptMessage("system", ROUTER_PROMPT), PromptMessage("user", query)]
            result = await model.complete(ModelRequest(messages=messages, tools=tools))
            return next((by_id[c.name] for c in result.tool_calls if c.name in by_id), None)
        # A model without tool calling reads the datasets as a list and answers with an id.
        listing = "\n".join(f"- {d.id}: {default_description(d)}" for d in datasets)
        messages = [
            PromptMessage("system", ROUTER_TEXT.format(listing=listing)),
            PromptMessage("user", query),
        ]
        result = await model.complete(ModelRequest(messages=messages))
        return next((by_id[m] for m in _UUID.findall(result.text.lower()) if m in by_id), None)

    async def _multiple(
        self, configs: DatasetConfigs, datasets: Sequence[DatasetRecord], query: str
    ) -> list[Scored]:
        techniques = {d.indexing_technique for d in datasets}
        merge_rerank = len(datasets) > 1 and configs.reranking_on
        if merge_rerank and len(techniques) > 1 and configs.reranking_mode != "reranking_model":
            raise InvalidParam(MIXED_TECHNIQUES)
        plans = []
        for dataset in datasets:
            if dataset.indexing_technique == ECONOMY:
                model = RetrievalModel(search_method="keyword_search", top_k=configs.top_k)
            else:
                model = own_settings(dataset, configs.top_k)
            plans.append(self._search.plan(dataset, model))
        found = await asyncio.gather(
            *(self._search.search(d, query, p) for d, p in zip(datasets, plans, strict=True))
        )
        merged = [item for items in found for item in items]
        app_plan = SearchPlan("hybrid_search", configs.top_k, configs.threshold)
        if merge_rerank and configs.reranking_mode == "reranking_model" and configs.reranking_model.named:
            merged = await self._rerank(query, merged)
        ranked = finish([Hit(s.found.segment.id, s.score) for s in merged], app_plan)
        by_id = {s.found.segment.id: s for s in merged}
        return [Scored(by_id[h.segment_id].found, h.score) for h in ranked]

    async def _rerank(self, query: str, merged: list[Scored]) -> list[Scored]:
        rerank = self._search.models.rerank
        if rerank is None:
            raise ProviderNotInitialized(NO_RERANK)
        if not merged:
            return merged
        texts = [knowledge_hits.text_of(s.found.segment) for s in merged]
        scores = await rerank.rerank(query, texts)
        return sorted(
            (Scored(s.found, score) for s, score in zip(merged, scores, strict=True)), key=lambda s: -s.score
        )


def own_settings(dataset: DatasetRecord, top_k: int) -> RetrievalModel:
    """The dataset's stored retrieval settings; semantic search with ``top_k`` when it has none."""
    if dataset.retrieval_model:
        return RetrievalModel.model_validate(dataset.retrieval_model)
    return RetrievalModel(search_method="semantic_search", top_k=top_k)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
