"""Searching one dataset: keyword, vector, hybrid; fusion, rerank, threshold, top k.

    query ──► terms ──► full-text index (bm25 / ts_rank) ──► keyword scores ─┐
          └─► embedding ──► in-memory cosine (matrices.py) ──────────────────┤
                                                                              ▼
                     visible segments only (enabled, completed, not archived)
                                                                              ▼
                fusion: weighted score, or reciprocal rank; or a rerank model
                                                                              ▼
                                   score threshold, then the top k

Every score is in [0, 1]: cosine similarity for vectors (negative ones count as 0); for
keywords, BM25 over the index's own term statistics divided by the query's total term weight,
so a segment holding every query term about as often as a segment of average length holds a
word scores about 1, and one holding only rare-word half of the query about 0.5 (``keyword_score``);
the model's own score after a rerank.
``keyword_search`` (economy datasets) and ``full_text_search`` run on the same full-text
index here; a dataset with no embeddings searches by keyword whatever it is asked.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from difychat.server.domain.retrieval import RRF_K, Hit, SearchPlan
from difychat.server.providers.embeddings import EmbeddingModel
from difychat.server.providers.rerank import RerankModel
from difychat.server.services.retrieval.terms import query_terms
from difychat.server.services.retrieval.vectors import THREAD_ABOVE, VectorCache
from difychat.server.store import knowledge_index as index_store

if TYPE_CHECKING:
    from difychat.server.services.retrieval.matrices import Matrix

# BM25's term-frequency saturation and length normalisation.
BM25_K1 = 1.2
BM25_B = 0.75
# The full-text index ranks every entry it matches: it is asked for the rarest query terms only,
# while the entries holding them add up to at most this many (common terms still count in the
# score of the candidates found). When even the rarest term is this common several times over,
# any entries holding it are taken, unranked, and ranked here.
MATCH_BUDGET = 1_000
UNORDERED_CANDIDATES = 200
# Candidates fetched from each side for each result wanted (room for hidden segments and fusion).
OVERFETCH = 3
MIN_CANDIDATES = 20


class Visibility(Protocol):
    """Which of these segments may be returned (enabled, completed, document available)."""

    def __call__(self, conn: AsyncConnection, segment_ids: Sequence[str]) -> Awaitable[set[str]]: ...


# The text a rerank model reads for a segment.
TextsOf = Callable[[AsyncConnection, Sequence[str]], Awaitable[Mapping[str, str]]]


@dataclass(frozen=True, slots=True)
class SearchTarget:
    """One dataset to search, with the models that serve it."""

    dataset_id: str
    # The model its vectors were made with; None: keyword-only (economy).
    embeddings: EmbeddingModel | None


class Retriever:
    def __init__(
        self,
        engine: AsyncEngine,
        vectors: VectorCache,
        visible: Visibility,
        texts: TextsOf,
    ) -> None:
        self._engine = engine
        self._vectors = vectors
        self._visible = visible
        self._texts = texts

    async def embed_query(self, model: EmbeddingModel, query: str) -> Matrix:
        from difychat.server.services.retrieval.matrices import unit_rows

        (vector,) = await model.embed([query])
        row: Matrix = unit_rows([vector])[0]
        return row

    async def search(
        self,
        target: SearchTarget,
        query: str,
        plan: SearchPlan,
        *,
        rerank: RerankModel | None = None,
        query_vector: Matrix | None = None,
        visible: Visibility | None = None,
        texts: TextsOf | None = None,
    ) -> list[Hit]:
        """The dataset's best segments for ``query`` under ``plan``, best first. ``visible`` and
        ``texts`` replace the retriever's own for this search (a caller that reads the segments'
        rows anyway answers both from one query)."""
        method = plan.method
        if target.embeddings is None and method in ("semantic_search", "hybrid_search"):
            method = "keyword_search"
        wanted = max(plan.top_k * OVERFETCH, MIN_CANDIDATES)
        use_vectors = method in ("semantic_search", "hybrid_search")
        use_keywords = method in ("keyword_search", "full_text_search", "hybrid_search")
        semantic: dict[str, float] = {}
        keyword: dict[str, float] = {}
        if use_vectors and use_keywords:
            # Hybrid: the query's embedding call, then the vector scan (a worker thread for a big
            # dataset), beside the keyword queries.
            # A task group: if one side fails (the embedding call, say), the other is cancelled.
            try:
                async with asyncio.TaskGroup() as both:
                    by_vector = both.create_task(self._semantic_of(target, query, query_vector, wanted))
                    by_keyword = both.create_task(self._keyword(target.dataset_id, query, wanted))
            except BaseExceptionGroup as failed:
                raise failed.exceptions[0] from None
            semantic, keyword = by_vector.result(), by_keyword.result()
        elif use_vectors:
            semantic = await self._semantic_of(target, query, query_vector, wanted)
        elif use_keywords:
            keyword = await self._keyword(target.dataset_id, query, wanted)
        candidates = list(dict.fromkeys([*semantic, *keyword]))
        rerank_texts: Mapping[str, str] = {}
        if candidates:
            async with self._engine.connect() as conn:
                shown = await (visible or self._visible)(conn, candidates)
                candidates = [c for c in candidates if c in shown]
                if (
                    rerank is not None
                    and plan.rerank is not None
                    and plan.rerank.model is not None
                    and candidates
                ):
                    rerank_texts = await (texts or self._texts)(conn, candidates)
        scored = _fuse(candidates, semantic, keyword, plan, both=use_vectors and use_keywords)
        if rerank is not None and rerank_texts:
            scored = await _rerank(rerank, query, scored, rerank_texts)
        return finish(scored, plan)

    async def _semantic_of(
        self, target: SearchTarget, query: str, query_vector: Matrix | None, wanted: int
    ) -> dict[str, float]:
        if query_vector is None:
            assert target.embeddings is not None
            query_vector = await self.embed_query(target.embeddings, query)
        return await self._semantic(target.dataset_id, query_vector, wanted)

    async def _semantic(self, dataset_id: str, query_vector: Matrix, wanted: int) -> dict[str, float]:
        fresh, held = self._vectors.recent(dataset_id)
        if not fresh:
            async with self._engine.connect() as conn:
                held = await self._vectors.current(conn, dataset_id)
        if held is None:
            return {}
        if held.rows * held.dims < THREAD_ABOVE:
            found = held.search(query_vector, wanted)
        else:
            found = await asyncio.to_thread(held.search, query_vector, wanted)
        return {segment_id: max(similarity, 0.0) for segment_id, similarity in found}

    async def _keyword(self, dataset_id: str, query: str, wanted: int) -> dict[str, float]:
        terms = query_terms(query)
        async with self._engine.connect() as conn:
            stats = await index_store.term_stats(conn, dataset_id, terms)
            matching, ordered = matching_terms(terms, stats)
            found = await index_store.keyword_candidates(
                conn,
                dataset_id,
                matching,
                wanted if ordered else max(wanted, UNORDERED_CANDIDATES),
                counted=terms,
                ordered=ordered,
            )
        return keyword_scores(terms, found, stats)


def matching_terms(terms: Sequence[str], stats: index_store.TermStats) -> tuple[list[str], bool]:
    """The terms the full-text index is asked for, and whether it should rank what it finds."""
    held = sorted((stats.holding[t], t) for t in terms if stats.holding.get(t))
    chosen: list[str] = []
    total = 0
    for holding, term in held:
        if chosen and total + holding > MATCH_BUDGET:
            break
        chosen.append(term)
        total += holding
    return chosen, total <= 5 * MATCH_BUDGET


def keyword_scores(
    terms: Sequence[str], candidates: Sequence[index_store.KeywordCandidate], stats: index_store.TermStats
) -> dict[str, float]:
    """BM25 (Lucene's idf, never negative) divided by the query's total idf, capped at 1."""
    entries = max(stats.entries, 1)
    average = stats.total_length / entries if stats.total_length else 1.0
    idf = {t: math.log(1 + (entries - n + 0.5) / (n + 0.5)) for t in terms if (n := stats.holding.get(t, 0))}
    total = sum(idf.values())
    if total <= 0:
        return {}
    out: dict[str, float] = {}
    for candidate in candidates:
        norm = BM25_K1 * (1 - BM25_B + BM25_B * candidate.length / average)
        score = sum(
            idf[t] * count * (BM25_K1 + 1) / (count + norm)
            for t, count in candidate.counts.items()
            if t in idf
        )
        if score > 0:
            out[candidate.segment_id] = min(score / total, 1.0)
    return out


def _fuse(
    candidates: Sequence[str],
    semantic: Mapping[str, float],
    keyword: Mapping[str, float],
    plan: SearchPlan,
    *,
    both: bool,
) -> list[Hit]:
    if not both:
        source = semantic or keyword
        return sorted((Hit(c, source.get(c, 0.0)) for c in candidates), key=lambda h: -h.score)
    if plan.rerank is not None and plan.rerank.weights is not None:
        vector_weight, keyword_weight = plan.rerank.weights
        return sorted(
            (
                Hit(c, vector_weight * semantic.get(c, 0.0) + keyword_weight * keyword.get(c, 0.0))
                for c in candidates
            ),
            key=lambda h: -h.score,
        )
    return reciprocal_rank([semantic, keyword], candidates)


def reciprocal_rank(rankings: Sequence[Mapping[str, float]], candidates: Sequence[str]) -> list[Hit]:
    """Reciprocal rank fusion, scaled so that first place in every list scores 1."""
    keep = set(candidates)
    fused: dict[str, float] = {}
    for ranking in rankings:
        ordered = sorted((c for c in ranking if c in keep), key=lambda c: -ranking[c])
        for rank, segment_id in enumerate(ordered, start=1):
            fused[segment_id] = fused.get(segment_id, 0.0) + 1.0 / (RRF_K + rank)
    best = len(rankings) / (RRF_K + 1)
    return sorted((Hit(c, s / best) for c, s in fused.items()), key=lambda h: -h.score)


async def _rerank(model: RerankModel, query: str, hits: list[Hit], texts: Mapping[str, str]) -> list[Hit]:
    ranked = [h for h in hits if h.segment_id in texts]
    scores = await model.rerank(query, [texts[h.segment_id] for h in ranked])
    return sorted((Hit(h.segment_id, s) for h, s in zip(ranked, scores, strict=True)), key=lambda h: -h.score)


def finish(hits: Sequence[Hit], plan: SearchPlan) -> list[Hit]:
    """The threshold, then the top k (scores rounded to what the wire shows); a segment that
    scores nothing was not found."""
    kept = [h for h in hits if h.score > 0 and (plan.threshold is None or h.score >= plan.threshold)]
    return [Hit(h.segment_id, round(float(h.score), 6)) for h in kept[: plan.top_k]]
