"""Knowledge search as the API and chat use it: a dataset, a query, its settings -> segments."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from difychat.server.domain.knowledge import HIGH_QUALITY, DatasetRecord
from difychat.server.domain.retrieval import RetrievalModel, SearchPlan
from difychat.server.services.retrieval.engine import Retriever, SearchTarget
from difychat.server.services.retrieval.indexer import SearchIndexer
from difychat.server.services.retrieval.models import KnowledgeModels
from difychat.server.services.retrieval.vectors import VectorCache
from difychat.server.store import knowledge_hits
from difychat.server.store.knowledge_hits import FoundSegment

logger = logging.getLogger("difychat.knowledge")

# Hit counts are added up in memory and written at most this often (one short transaction).
HIT_FLUSH_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Scored:
    found: FoundSegment
    score: float


class KnowledgeSearch:
    def __init__(
        self, engine: AsyncEngine, models: KnowledgeModels, vectors: VectorCache | None = None
    ) -> None:
        self._engine = engine
        self.models = models
        self.vectors = vectors or VectorCache()
        self.retriever = Retriever(engine, self.vectors, knowledge_hits.visible, knowledge_hits.texts)
        self.indexer = SearchIndexer(engine, self.vectors, models.embeddings_for)
        self._hits: Counter[str] = Counter()
        self._flushing: asyncio.Task[None] | None = None

    def plan(self, dataset: DatasetRecord, model: RetrievalModel) -> SearchPlan:
        return SearchPlan.of(model, embeds=dataset.indexing_technique == HIGH_QUALITY)

    async def search(self, dataset: DatasetRecord, query: str, plan: SearchPlan) -> list[Scored]:
        # The embedding model is needed (and its absence an error) only when vectors are searched.
        vectors = plan.method in ("semantic_search", "hybrid_search")
        target = SearchTarget(dataset.id, self.models.embeddings_for(dataset) if vectors else None)
        # The candidates' rows are read once: they say which may be shown, give a reranker its
        # texts, and are what the search answers.
        rows: dict[str, FoundSegment] = {}

        async def visible(conn: AsyncConnection, segment_ids: Sequence[str]) -> set[str]:
            rows.update(await knowledge_hits.found(conn, segment_ids))
            return set(rows)

        async def texts(conn: AsyncConnection, segment_ids: Sequence[str]) -> dict[str, str]:
            return {s: knowledge_hits.text_of(rows[s].segment) for s in segment_ids if s in rows}

        hits = await self.retriever.search(
            target, query, plan, rerank=self.models.rerank_for(plan), visible=visible, texts=texts
        )
        out = [Scored(rows[h.segment_id], h.score) for h in hits if h.segment_id in rows]
        self._count([s.found.segment.id for s in out])
        return out

    def _count(self, segment_ids: Sequence[str]) -> None:
        self._hits.update(segment_ids)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(HIT_FLUSH_SECONDS)
        await self.flush_hits()

    async def flush_hits(self) -> None:
        pending, self._hits = self._hits, Counter()
        if not pending:
            return
        try:
            async with self._engine.begin() as conn:
                for times in sorted(set(pending.values())):
                    await knowledge_hits.count_hits(
                        conn, [s for s, n in pending.items() if n == times], by=times
                    )
        except Exception:  # counting is best effort: a search never fails for it
            logger.exception("counting segment hits failed")

    async def close(self) -> None:
        if self._flushing is not None and not self._flushing.done():
            self._flushing.cancel()
        await self.flush_hits()
