"""Search over a small corpus whose answers are known: every method, English and CJK, thresholds,
fusion, rerank, the index kept current through writes, and the memory held by the vectors.

Real databases (SQLite and PostgreSQL); the embedding and rerank models are fakes over loopback
HTTP (``tests/fakes``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
import sqlalchemy as sa

from difychat.server.domain.knowledge import DatasetRecord
from difychat.server.domain.retrieval import DatasetConfigs, RetrievalModel, SearchPlan
from difychat.server.errors import InvalidParam, ProviderNotInitialized
from difychat.server.providers.embeddings import OpenAICompatibleEmbeddings
from difychat.server.providers.openai_compatible import build_openai_compatible
from difychat.server.providers.rerank import HttpRerank
from difychat.server.services.retrieval.chat import CONTEXT_BLOCK, ChatKnowledge
from difychat.server.services.retrieval.models import KnowledgeModels
from difychat.server.services.retrieval.service import KnowledgeSearch
from difychat.server.services.retrieval.vectors import VectorCache
from difychat.server.store import datasets as dataset_store
from difychat.server.store import db
from tests.fakes.rerank import FakeRerank
from tests.fakes.upstream import FakeUpstream, Round, ScriptedCall
from tests.integration import knowledge_seed as seed

pytestmark = pytest.mark.anyio

ENGLISH = [
    "Dify is an open-source platform for building LLM applications with agents and workflows.",
    "To reset your password, open the account settings page and choose forgot password.",
    "Bananas are rich in potassium and vitamin B6, a healthy snack.",
    "The Eiffel Tower is located in Paris, France, and was completed in 1889.",
    "Invoices are sent by email at the start of each month; billing questions go to finance.",
]
CJK = [
    "知识库支持全文检索和向量检索，也支持混合检索。",
    "北京是中国的首都，也是政治和文化中心。",
    "東京は日本の首都です。人口が多い都市です。",
    "서울은 대한민국의 수도입니다.",
]


@dataclass
class Knowledge:
    search: KnowledgeSearch
    rerank: FakeRerank
    upstream: FakeUpstream
    economy: DatasetRecord
    quality: DatasetRecord


@pytest.fixture
async def knowledge(database_url: str, upstream: FakeUpstream) -> AsyncIterator[Knowledge]:
    engine = db.create_engine(database_url, pool_size=2)
    rerank = await FakeRerank().start()
    session = aiohttp.ClientSession()
    models = KnowledgeModels(
        embeddings=OpenAICompatibleEmbeddings(
            session, model="fake-embed", base_url=upstream.base_url, api_key="sk-embed", timeout=10
        ),
        rerank=HttpRerank(
            session, model="fake-rerank", base_url=rerank.base_url, api_key="jina-key", timeout=10
        ),
    )
    search = KnowledgeSearch(engine, models, VectorCache(recheck_seconds=0))
    economy_id = await seed.dataset(engine, "Economy", "economy")
    quality_id = await seed.dataset(engine, "Quality", "high_quality")
    async with engine.connect() as conn:
        economy = await dataset_store.dataset(conn, economy_id)
        quality = await dataset_store.dataset(conn, quality_id)
    assert economy is not None and quality is not None
    for record in (economy, quality):
        await search.indexer.index(record, await seed.document(engine, record.id, "en.md", ENGLISH))
        await search.indexer.index(record, await seed.document(engine, record.id, "cjk.md", CJK))
    try:
        yield Knowledge(search, rerank, upstream, economy, quality)
    finally:
        await search.close()
        await session.close()
        await rerank.stop()
        await engine.dispose()


def plan(method: str, **values: object) -> SearchPlan:
    model = RetrievalModel.model_validate({"search_method": method, "top_k": 3, **values})
    return SearchPlan.of(model, embeds=True)


async def contents(k: Knowledge, dataset: DatasetRecord, query: str, p: SearchPlan) -> list[str]:
    return [s.found.segment.content for s in await k.search.search(dataset, query, p)]


@pytest.mark.parametrize("method", ["keyword_search", "full_text_search", "semantic_search", "hybrid_search"])
async def test_each_method_finds_the_answer_first(knowledge: Knowledge, method: str) -> None:
    found = await contents(knowledge, knowledge.quality, "how do I reset my password", plan(method))
    assert found[0] == ENGLISH[1]
    found = await contents(knowledge, knowledge.quality, "Where is the Eiffel Tower?", plan(method))
    assert found[0] == ENGLISH[3]


@pytest.mark.parametrize(
    ("query", "answer"),
    [("中国的首都是哪里", 1), ("向量检索", 0), ("日本の首都", 2), ("대한민국의 수도", 3)],
)
async def test_cjk_text_is_searchable_by_keyword(knowledge: Knowledge, query: str, answer: int) -> None:
    found = await contents(knowledge, knowledge.economy, query, plan("keyword_search"))
    assert found[0] == CJK[answer]


async def test_an_economy_dataset_searches_by_keyword_whatever_it_is_asked(knowledge: Knowledge) -> None:
    before = len(knowledge.upstream.aux("embeddings"))
    found = await contents(knowledge, knowledge.economy, "potassium snack", plan("semantic_search"))
    assert found[0] == ENGLISH[2]
    assert len(knowledge.upstream.aux("embeddings")) == before  # no query embedding


async def test_scores_are_between_0_and_1_best_first_and_cut_by_top_k(knowledge: Knowledge) -> None:
    for method in ("keyword_search", "semantic_search", "hybrid_search"):
        hits = await knowledge.search.search(knowledge.quality, "password settings email month", plan(method))
        scores = [h.score for h in hits]
        assert 1 <= len(hits) <= 3
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores)


async def test_the_score_threshold_drops_weak_matches(knowledge: Knowledge) -> None:
    loose = await knowledge.search.search(knowledge.quality, "password paris", plan("semantic_search"))
    assert len(loose) >= 2
    cut = loose[0].score - 0.0001
    strict = await knowledge.search.search(
        knowledge.quality,
        "password paris",
        plan("semantic_search", score_threshold_enabled=True, score_threshold=cut),
    )
    assert [h.found.segment.id for h in strict] == [h.found.segment.id for h in loose if h.score >= cut]
    off = await knowledge.search.search(
        knowledge.quality, "password paris", plan("semantic_search", score_threshold=0.99)
    )
    assert len(off) == len(loose)  # the threshold counts only when enabled


async def test_weighted_fusion_follows_the_weights(knowledge: Knowledge) -> None:
    def weighted(vector: float) -> SearchPlan:
        weights = {
            "vector_setting": {"vector_weight": vector},
            "keyword_setting": {"keyword_weight": round(1 - vector, 2)},
        }
        return plan("hybrid_search", reranking_mode="weighted_score", weights=weights)

    only_keywords = await knowledge.search.search(knowledge.quality, "password email", weighted(0.0))
    keyword = await knowledge.search.search(knowledge.quality, "password email", plan("keyword_search"))
    assert [h.found.segment.id for h in only_keywords] == [h.found.segment.id for h in keyword]
    assert [h.score for h in only_keywords] == [h.score for h in keyword]
    only_vectors = await knowledge.search.search(knowledge.quality, "password email", weighted(1.0))
    semantic = await knowledge.search.search(knowledge.quality, "password email", plan("semantic_search"))
    assert [h.score for h in only_vectors] == [h.score for h in semantic]


async def test_hybrid_without_weights_fuses_by_reciprocal_rank(knowledge: Knowledge) -> None:
    hits = await knowledge.search.search(knowledge.quality, "reset password settings", plan("hybrid_search"))
    assert hits[0].found.segment.content == ENGLISH[1]
    assert hits[0].score == 1.0  # first in both lists


async def test_a_rerank_model_reorders_the_results(knowledge: Knowledge) -> None:
    reranked = plan(
        "semantic_search",
        reranking_enable=True,
        reranking_mode="reranking_model",
        reranking_model={"reranking_provider_name": "jina", "reranking_model_name": "fake-rerank"},
    )
    hits = await knowledge.search.search(knowledge.quality, "paris tower", reranked)
    assert hits[0].found.segment.content == ENGLISH[3]
    assert hits[0].score == 1.0  # the rerank model's score
    (request,) = knowledge.rerank.requests
    assert request["model"] == "fake-rerank" and request["query"] == "paris tower"
    assert request["authorization"] == "Bearer jina-key"
    assert ENGLISH[3] in request["documents"]


async def test_rerank_without_a_configured_model_is_provider_not_initialize(knowledge: Knowledge) -> None:
    bare = KnowledgeSearch(knowledge.search.retriever._engine, KnowledgeModels())
    with pytest.raises(ProviderNotInitialized):
        await bare.search(knowledge.quality, "paris", plan("semantic_search"))
    hits = await bare.search(knowledge.economy, "paris", plan("keyword_search"))
    assert hits[0].found.segment.content == ENGLISH[3]
    # without the embedding model a high-quality dataset can still be searched by keyword
    hits = await bare.search(knowledge.quality, "paris", plan("full_text_search"))
    assert hits[0].found.segment.content == ENGLISH[3]


async def test_removed_and_replaced_segments_leave_the_index(knowledge: Knowledge) -> None:
    first = await knowledge.search.search(knowledge.quality, "bananas potassium", plan("hybrid_search"))
    banana = first[0].found.segment
    await knowledge.search.indexer.remove(knowledge.quality.id, [banana.id])
    for method in ("keyword_search", "semantic_search", "hybrid_search"):
        found = await contents(knowledge, knowledge.quality, "bananas potassium", plan(method))
        assert ENGLISH[2] not in found
    engine = knowledge.search.retriever._engine
    (added,) = await seed.document(
        engine, knowledge.quality.id, "new.md", ["Mangoes and bananas are tropical fruit."]
    )
    await knowledge.search.indexer.index(knowledge.quality, [added])
    for method in ("keyword_search", "semantic_search"):
        found = await contents(knowledge, knowledge.quality, "tropical mangoes", plan(method))
        assert found[0] == added.content


async def test_a_write_from_another_process_is_seen_by_the_next_search(knowledge: Knowledge) -> None:
    engine = knowledge.search.retriever._engine
    await contents(knowledge, knowledge.quality, "password", plan("semantic_search"))  # vectors held
    other = KnowledgeSearch(engine, knowledge.search.models)  # another worker's index
    (added,) = await seed.document(engine, knowledge.quality.id, "w2.md", ["Quantum computers use qubits."])
    await other.indexer.index(knowledge.quality, [added])
    found = await contents(knowledge, knowledge.quality, "quantum qubits", plan("semantic_search"))
    assert found[0] == added.content
    await other.close()


async def test_dropping_a_dataset_empties_its_index(knowledge: Knowledge) -> None:
    await knowledge.search.indexer.drop_dataset(knowledge.economy.id)
    assert await knowledge.search.search(knowledge.economy, "password", plan("keyword_search")) == []
    # the other dataset keeps its entries
    assert await knowledge.search.search(knowledge.quality, "password", plan("keyword_search"))


async def test_the_vectors_held_stay_under_1_2_times_their_raw_size(knowledge: Knowledge) -> None:
    await knowledge.search.search(knowledge.quality, "password", plan("semantic_search"))
    held = knowledge.search.vectors.held(knowledge.quality.id)
    assert held is not None and held.rows == len(ENGLISH) + len(CJK)
    assert held.held_bytes <= 1.2 * held.raw_bytes


async def test_past_the_memory_budget_the_least_recently_searched_dataset_is_let_go(
    knowledge: Knowledge,
) -> None:
    engine = knowledge.search.retriever._engine
    budget = VectorCache(recheck_seconds=0, budget_bytes=1)  # room for one dataset at a time
    search = KnowledgeSearch(engine, knowledge.search.models, budget)
    other_id = await seed.dataset(engine, "Other", "high_quality")
    async with engine.connect() as conn:
        other = await dataset_store.dataset(conn, other_id)
    assert other is not None
    await search.indexer.index(other, await seed.document(engine, other.id, "o.md", ENGLISH[::-1]))

    async def ranked(dataset: DatasetRecord, query: str, method: str) -> list[tuple[str, float]]:
        return [(h.found.segment.id, h.score) for h in await search.search(dataset, query, plan(method))]

    queries = ["reset my password", "Eiffel Tower Paris", "知识库检索"]
    first = {
        (q, m): await ranked(knowledge.quality, q, m)
        for q in queries
        for m in ("semantic_search", "hybrid_search")
    }
    assert budget.held(knowledge.quality.id) is not None and budget.evictions == 0
    assert (await ranked(other, "bananas potassium", "semantic_search"))[0][1] > 0
    # the other dataset's vectors pushed out the first's
    held_other = budget.held(other.id)
    assert budget.held(knowledge.quality.id) is None and held_other is not None
    assert budget.evictions == 1 and budget.held_bytes == held_other.held_bytes
    # read again from the database: the same segments with the same scores
    again = {
        (q, m): await ranked(knowledge.quality, q, m)
        for q in queries
        for m in ("semantic_search", "hybrid_search")
    }
    assert again == first
    assert budget.held(other.id) is None and budget.evictions == 2
    # a write to a dataset not held is applied when it is next read
    (added,) = await seed.document(engine, other.id, "o2.md", ["Quantum computers use qubits."])
    await search.indexer.index(other, [added])
    assert (await ranked(other, "quantum qubits", "semantic_search"))[0][0] == added.id
    # without a budget both stay
    unbounded = VectorCache(recheck_seconds=0, budget_bytes=0)
    plain = KnowledgeSearch(engine, knowledge.search.models, unbounded)
    await plain.search(knowledge.quality, "password", plan("semantic_search"))
    await plain.search(other, "password", plan("semantic_search"))
    assert unbounded.held(knowledge.quality.id) is not None and unbounded.held(other.id) is not None
    assert unbounded.evictions == 0
    await search.close()
    await plain.close()


async def test_vectors_checked_within_the_recheck_time_are_searched_without_asking_the_index(
    knowledge: Knowledge,
) -> None:
    engine = knowledge.search.retriever._engine
    statements: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    async def statements_of_a_search(search: KnowledgeSearch) -> list[str]:
        statements.clear()
        hits = await search.search(knowledge.quality, "reset my password", plan("semantic_search"))
        assert hits[0].found.segment.content == ENGLISH[1]
        return [s for s in statements if "knowledge_index_versions" in s]

    sa.event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        patient = KnowledgeSearch(engine, knowledge.search.models, VectorCache(recheck_seconds=3600))
        assert len(await statements_of_a_search(patient)) == 1  # first: the version read
        assert await statements_of_a_search(patient) == []  # then held as it is
        eager = KnowledgeSearch(engine, knowledge.search.models, VectorCache(recheck_seconds=0))
        await statements_of_a_search(eager)
        assert len(await statements_of_a_search(eager)) == 1
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", seen)
    await patient.close()
    await eager.close()


async def test_hits_are_counted(knowledge: Knowledge) -> None:
    hits = await knowledge.search.search(knowledge.quality, "password", plan("keyword_search"))
    await knowledge.search.flush_hits()
    engine = knowledge.search.retriever._engine
    async with engine.connect() as conn:
        from difychat.server.store import segments as segment_store

        (segment,) = await segment_store.by_ids(conn, [hits[0].found.segment.id])
    assert segment.hit_count == 1


def _configs(mode: str, *datasets: DatasetRecord, **values: object) -> DatasetConfigs:
    entries = [{"dataset": {"enabled": True, "id": d.id}} for d in datasets]
    return DatasetConfigs.model_validate(
        {"retrieval_model": mode, "datasets": {"datasets": entries}, **values}
    )


async def test_multiple_retrieval_merges_every_dataset_to_the_app_top_k(knowledge: Knowledge) -> None:
    chat = ChatKnowledge(knowledge.search.retriever._engine, knowledge.search)
    configs = _configs("multiple", knowledge.economy, knowledge.quality, top_k=3, reranking_enable=False)
    found = await chat.retrieve(configs, "reset password settings", None)
    assert found is not None and 1 <= len(found.found) <= 3
    assert {s.found.dataset_name for s in found.found} == {"Economy", "Quality"}
    assert found.found[0].found.segment.content == ENGLISH[1]
    resources = found.resources()
    assert [r["position"] for r in resources] == list(range(1, len(resources) + 1))
    assert f"<context>\n{ENGLISH[1]}" in CONTEXT_BLOCK.format(context=found.context.context)


async def test_mixed_techniques_need_a_rerank_model_when_reranking(knowledge: Knowledge) -> None:
    chat = ChatKnowledge(knowledge.search.retriever._engine, knowledge.search)
    configs = _configs("multiple", knowledge.economy, knowledge.quality, reranking_mode="weighted_score")
    with pytest.raises(InvalidParam, match="different indexing technique"):
        await chat.retrieve(configs, "password", None)


async def test_datasets_are_named_by_id_or_name_and_unknown_ones_are_skipped(knowledge: Knowledge) -> None:
    chat = ChatKnowledge(knowledge.search.retriever._engine, knowledge.search)
    configs = DatasetConfigs.model_validate(
        {
            "datasets": {
                "datasets": [
                    {"dataset": {"enabled": True, "name": "Quality"}},
                    {"dataset": {"enabled": True, "id": "00000000-0000-4000-8000-000000000000"}},
                    {"dataset": {"enabled": False, "id": knowledge.economy.id}},
                ]
            }
        }
    )
    assert [d.id for d in await chat.datasets(configs)] == [knowledge.quality.id]
    assert configs.retrieval_model == "single" and configs.reranking_on  # Dify's defaults
    nothing = DatasetConfigs.model_validate({"datasets": {"datasets": [{"dataset": {"id": "nope"}}]}})
    assert await chat.retrieve(nothing, "password", None) is None


async def test_single_retrieval_lets_the_model_pick_the_dataset(knowledge: Knowledge) -> None:
    chat = ChatKnowledge(knowledge.search.retriever._engine, knowledge.search)
    knowledge.upstream.behaviour.rounds = [Round(calls=[ScriptedCall(knowledge.economy.id)])]
    async with aiohttp.ClientSession() as session:
        model = build_openai_compatible(
            session, model="fake-model", base_url=knowledge.upstream.base_url, api_key="sk", timeout=10
        )
        found = await chat.retrieve(
            _configs("single", knowledge.quality, knowledge.economy), "password", model
        )
    assert found is not None and found.found
    assert {s.found.dataset_name for s in found.found} == {"Economy"}
    offered = knowledge.upstream.requests[-1].body["tools"]
    assert [t["function"]["name"] for t in offered] == [knowledge.quality.id, knowledge.economy.id]


async def test_a_model_without_tool_calls_picks_the_dataset_by_its_id(knowledge: Knowledge) -> None:
    chat = ChatKnowledge(knowledge.search.retriever._engine, knowledge.search)
    configs = _configs("single", knowledge.quality, knowledge.economy)
    async with aiohttp.ClientSession() as session:
        model = build_openai_compatible(
            session, model="fake-model", base_url=knowledge.upstream.base_url, api_key="sk", timeout=10
        )
        knowledge.upstream.behaviour.completion = f"The best one is {knowledge.economy.id}."
        found = await chat.retrieve(configs, "password", model, calls_tools=False)
        assert found is not None and {s.found.dataset_name for s in found.found} == {"Economy"}
        listing = knowledge.upstream.requests[-1].body["messages"][0]["content"]
        assert (
            f"- {knowledge.quality.id}: useful for when you want to answer queries about the Quality"
            in listing
        )
        knowledge.upstream.behaviour.completion = "none"
        nothing = await chat.retrieve(configs, "password", model, calls_tools=False)
        assert nothing is not None and nothing.found == [] and "<context>" in CONTEXT_BLOCK
