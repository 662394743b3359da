"""Search terms (CJK pairs), vector search (exact, and through one-bit codes) and its memory, keyword
scores, fusion, plans."""

from __future__ import annotations

import uuid

import numpy as np

from difychat.server.domain.retrieval import Hit, RetrievalModel, SearchPlan
from difychat.server.services.retrieval.engine import finish, keyword_scores, reciprocal_rank
from difychat.server.services.retrieval.matrices import (
    CODE_MIN_ROWS,
    TAIL_ROWS,
    DatasetVectors,
    unit_rows,
)
from difychat.server.services.retrieval.terms import query_terms, terms
from difychat.server.store.knowledge_index import KeywordCandidate, StoredVectors, TermStats


def test_words_are_lowercased_normalised_and_common_words_dropped() -> None:
    assert list(terms("What is Dify? Ｆｕｌｌ-width CAFÉ")) == ["dify", "full", "width", "café"]


def test_cjk_runs_become_overlapping_pairs() -> None:
    assert list(terms("知识库")) == ["知识", "识库"]
    assert list(terms("東京は")) == ["東京", "京は"]
    assert list(terms("서울 수도")) == ["서울", "수도"]
    assert list(terms("中 x")) == ["中", "x"]
    # a query written differently still shares the pairs of the indexed text
    assert set(query_terms("中国的首都")) <= set(terms("北京是中国的首都。"))


def test_query_terms_are_distinct_and_bounded() -> None:
    assert query_terms("password password reset") == ["password", "reset"]
    assert len(query_terms(" ".join(f"w{i}" for i in range(100)))) == 32


def _random(rows: int, dims: int, seed: int = 1) -> np.ndarray:
    return unit_rows(np.random.default_rng(seed).normal(size=(rows, dims)))


def _stored(matrix: np.ndarray) -> tuple[StoredVectors, list[str]]:
    ids = [str(uuid.UUID(int=i + 1)) for i in range(matrix.shape[0])]
    blobs = [row.astype("<f4").tobytes() for row in matrix]
    return StoredVectors(list(range(1, len(ids) + 1)), ids, blobs), ids


def _load(stored: StoredVectors, *, codes: bool = False) -> DatasetVectors:
    held = DatasetVectors.load(stored.seqs, stored.segment_ids, stored.blobs, version=1, codes=codes)
    assert held is not None
    return held


def test_vector_search_is_exact() -> None:
    matrix = _random(3000, 48)
    stored, ids = _stored(matrix)
    held = _load(stored)
    query = unit_rows(np.random.default_rng(7).normal(size=(1, 48)))[0]
    expected = np.argsort(-(matrix @ query))[:10]
    found = held.search(query, 10)
    assert [segment for segment, _ in found] == [ids[i] for i in expected]
    assert np.allclose([s for _, s in found], (matrix @ query)[expected], atol=1e-5)


def test_added_and_removed_rows_are_searched_in_place_within_the_memory_bound() -> None:
    matrix = _random(500, 32)
    stored, ids = _stored(matrix)
    held = _load(stored)
    extra = _random(TAIL_ROWS + 10, 32, seed=2)
    extra_ids = [str(uuid.UUID(int=10_000 + i)) for i in range(extra.shape[0])]
    held.add(list(range(1000, 1000 + extra.shape[0])), extra_ids, extra)
    assert held.search(extra[5], 1)[0][0] == extra_ids[5]
    held.remove([1000 + 5])
    assert held.search(extra[5], 1)[0][0] != extra_ids[5]
    assert held.search(matrix[3], 1)[0][0] == ids[3]
    held.remove(list(range(1, 400)))  # past the dead share: compacted
    assert not held.dead
    assert held.search(matrix[450], 1)[0][0] == ids[450]
    assert held.held_bytes <= 1.2 * held.raw_bytes


def test_a_removed_row_is_never_found_whether_in_a_block_or_still_in_the_tail() -> None:
    matrix = _random(100, 16)
    stored, ids = _stored(matrix)
    held = _load(stored)
    extra = _random(3, 16, seed=5)
    held.add([500, 501, 502], [str(uuid.UUID(int=500 + i)) for i in range(3)], extra)
    held.remove([7, 501])  # one sealed, one in the tail
    assert ids[6] not in [s for s, _ in held.search(matrix[6], 100)]
    assert str(uuid.UUID(int=501)) not in [s for s, _ in held.search(extra[1], 200)]
    assert held.search(matrix[8], 1)[0][0] == ids[8]
    everything = held.search(matrix[0], 1000)
    assert len(everything) == 100 + 3 - 2 and held.rows == 100 + 3 - 1  # the sealed one until compaction


def _recall(found: list[list[str]], expected: list[list[str]]) -> float:
    return sum(len(set(f) & set(e)) for f, e in zip(found, expected, strict=True)) / sum(map(len, expected))


def test_codes_narrow_the_scan_to_a_pool_ranked_exactly_within_the_memory_bound() -> None:
    # 96 dimensions: one full 64-bit word of code and one padded
    matrix = _random(CODE_MIN_ROWS + 5000, 96)
    stored, ids = _stored(matrix)
    coded = _load(stored, codes=True)
    assert coded.frozen().approximate
    rng = np.random.default_rng(3)
    found, expected = [], []
    for row in rng.integers(0, matrix.shape[0], size=20):
        query = unit_rows(matrix[row] + rng.normal(scale=0.1, size=96))[0]
        approximate = coded.search(query, 10)
        exact = coded.search(query, 10, exact=True)
        assert [s for s, _ in exact] == [ids[i] for i in np.argsort(-(matrix @ query))[:10]]
        # what the pool returns carries its exact similarity, best first
        by_id = dict(zip(ids, (matrix @ query).tolist(), strict=True))
        assert np.allclose([sim for _, sim in approximate], [by_id[s] for s, _ in approximate], atol=1e-5)
        assert [sim for _, sim in approximate] == sorted((sim for _, sim in approximate), reverse=True)
        assert approximate[0][0] == ids[row]  # the row the query was made from comes first
        found.append([s for s, _ in approximate])
        expected.append([s for s, _ in exact])
    assert _recall(found, expected) >= 0.9
    assert coded.held_bytes <= 1.2 * coded.raw_bytes
    # removing rows (then compacting past the dead share) keeps codes and rows together
    coded.remove([int(s) for s in stored.seqs[:200]])
    assert ids[10] not in [s for s, _ in coded.search(matrix[10], 50)]
    coded.remove([int(s) for s in stored.seqs[200 : len(ids) // 5]])
    assert not coded.dead and coded.frozen().approximate
    last = len(ids) - 1
    assert coded.search(matrix[last], 1)[0][0] == ids[last]


def test_small_blocks_are_scanned_exactly_even_with_codes() -> None:
    matrix = _random(500, 32)
    stored, ids = _stored(matrix)
    coded = _load(stored, codes=True)
    assert not coded.frozen().approximate
    query = unit_rows(np.random.default_rng(9).normal(size=(1, 32)))[0]
    assert [s for s, _ in coded.search(query, 5)] == [ids[i] for i in np.argsort(-(matrix @ query))[:5]]


def test_keyword_scores_weigh_rare_terms_and_stay_in_0_1() -> None:
    stats = TermStats(entries=100, total_length=1000, holding={"rare": 1, "common": 90})
    candidates = [
        KeywordCandidate("both", 10, {"rare": 1, "common": 1}),
        KeywordCandidate("rare", 10, {"rare": 1}),
        KeywordCandidate("common", 10, {"common": 3}),
    ]
    scores = keyword_scores(["rare", "common", "absent"], candidates, stats)
    assert scores["both"] > scores["rare"] > scores["common"] > 0
    assert all(0 < s <= 1 for s in scores.values())
    assert abs(scores["both"] - 1.0) < 1e-9


def test_reciprocal_rank_fusion_scales_first_place_everywhere_to_1() -> None:
    fused = reciprocal_rank([{"a": 0.9, "b": 0.5}, {"a": 2.0, "c": 1.0}], ["a", "b", "c"])
    assert fused[0] == Hit("a", 1.0)
    assert {h.segment_id for h in fused} == {"a", "b", "c"}


def test_finish_applies_the_threshold_then_top_k_and_drops_zero_scores() -> None:
    hits = [Hit("a", 0.9), Hit("b", 0.6), Hit("c", 0.3), Hit("d", 0.0)]
    assert finish(hits, SearchPlan("semantic_search", 2)) == hits[:2]
    assert finish(hits, SearchPlan("semantic_search", 5, threshold=0.5)) == hits[:2]
    assert finish(hits, SearchPlan("semantic_search", 5)) == hits[:3]


def test_plans_follow_the_retrieval_model() -> None:
    economy = SearchPlan.of(RetrievalModel(search_method="hybrid_search"), embeds=False)
    assert economy.method == "keyword_search"
    weighted = RetrievalModel.model_validate(
        {
            "search_method": "hybrid_search",
            "reranking_mode": "weighted_score",
            "weights": {"vector_setting": {"vector_weight": 0.6}, "keyword_setting": {"keyword_weight": 0.4}},
            "score_threshold_enabled": True,
            "score_threshold": 0.5,
        }
    )
    plan = SearchPlan.of(weighted, embeds=True)
    assert plan.rerank is not None and plan.rerank.weights == (0.6, 0.4)
    assert plan.threshold == 0.5
    named = RetrievalModel.model_validate(
        {"reranking_enable": True, "reranking_model": {"reranking_model_name": "jina-reranker"}}
    )
    reranked = SearchPlan.of(named, embeds=True)
    assert reranked.rerank is not None and reranked.rerank.model is not None
    unnamed = SearchPlan.of(RetrievalModel(reranking_enable=True), embeds=True)
    assert unnamed.rerank is None and unnamed.threshold is None


def test_numpy_loads_with_the_first_vector_search_not_with_the_server() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import difychat.server.app, difychat.server.services.retrieval.service\n"
        "import difychat.server.services.retrieval.indexer, difychat.server.services.retrieval.vectors\n"
        "assert 'numpy' not in sys.modules, 'numpy imported at start-up'\n"
        "import difychat.server.services.retrieval.matrices\n"
        "assert 'numpy' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_an_entry_of_another_model_is_held_as_zeros_and_never_comes_first() -> None:
    matrix = _random(50, 16)
    stored, ids = _stored(matrix)
    stored.blobs[3] = _random(1, 32)[0].astype("<f4").tobytes()  # 32 dimensions among 16
    held = _load(stored)
    assert held.search(matrix[3], 1)[0][0] != ids[3]
    assert [s for s, _ in held.search(matrix[7], 1)] == [ids[7]]


def test_rows_written_in_place_are_merged_into_a_few_blocks_and_stay_exact() -> None:
    matrix = _random(TAIL_ROWS * 12 + 77, 16, seed=4)
    ids = [str(uuid.UUID(int=i + 1)) for i in range(matrix.shape[0])]
    held = DatasetVectors(16, version=1)
    # written a few hundred rows at a time, the last batch's seqs before the one ahead of it
    order = list(range(0, matrix.shape[0], 300))
    order[-2], order[-1] = order[-1], order[-2]
    for start in order:
        rows = range(start, min(start + 300, matrix.shape[0]))
        held.add([i + 1 for i in rows], [ids[i] for i in rows], matrix[rows.start : rows.stop])
    frozen = held.frozen()
    assert len(frozen.blocks) <= 4 and frozen.rows == matrix.shape[0]
    query = unit_rows(np.random.default_rng(8).normal(size=(1, 16)))[0]
    expected = [ids[i] for i in np.argsort(-(matrix @ query))[:10]]
    assert [s for s, _ in held.search(query, 10)] == expected
    # removing rows finds them in merged blocks, whatever their order
    held.remove([int(np.argmax(matrix @ query)) + 1, matrix.shape[0]])
    assert [s for s, _ in held.search(query, 9)] == expected[1:10]
    assert ids[-1] not in [s for s, _ in held.search(matrix[-1], 3)]
