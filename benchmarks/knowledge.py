"""Knowledge scenario: index a generated corpus, then time retrieval, on SQLite and PostgreSQL.

    python -m benchmarks.knowledge --chunks 100000 --db sqlite --db postgres \
        --out benchmarks/results/knowledge.md

For each database: a dataset of ``--chunks`` segments (about 90 words each, drawn from a Zipf
vocabulary, so common words are common) is written, then indexed twice through the server's
``SearchIndexer``: keywords only (economy), and with embeddings from a fast fake
OpenAI-compatible ``/embeddings`` endpoint on loopback (384 dimensions; ``--embeddings random``:
a seeded random vector per text, ``words``: a bag of hashed words as the tests' fake model
makes them, so a query is near the segments sharing its words). Then ``--queries`` searches per
method (keyword, vector, hybrid), each a few words of a random segment, through
``KnowledgeSearch.search`` (what ``/retrieve`` and a chat turn call: candidates, visibility,
the segments' rows); p50/p99 in milliseconds and the process's CPU time per search. Vector and
hybrid search are timed twice on the same index: with the exact scan, and with the vectors held
``approximate`` (one-bit codes first, an exact re-rank of a pool). The bare scans are timed
too (no database, no embedding call), and the approximate scan's recall against the exact one
(the top 4, and the 20 candidates a search with top_k 4 asks for). The vectors' memory is the
held arrays against their raw size.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import multiprocessing
import os
import re
import socket
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson
from aiohttp import web

from difychat.server.domain.knowledge import DatasetRecord
from difychat.server.domain.retrieval import RetrievalModel, SearchPlan
from difychat.server.providers.embeddings import OpenAICompatibleEmbeddings
from difychat.server.services.retrieval.models import KnowledgeModels
from difychat.server.services.retrieval.service import KnowledgeSearch
from difychat.server.services.retrieval.vectors import VectorCache
from difychat.server.store import datasets as dataset_store
from difychat.server.store import db
from difychat.server.store import segments as segment_store
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.schema import documents

DIMENSIONS = 384
OWNER = "6ad1c0de-0000-4000-8000-000000000001"
SYLLABLES = [a + b for a in "bcdfghjklmnprstvwz" for b in ("a", "e", "i", "o", "u", "ai", "ou")]
DOCUMENT_SIZE = 1000  # segments per document
INDEX_BATCH = 1000  # segments handed to the indexer at once (one document's worth)
TOP_K = 4
CANDIDATES = 20  # what a search with top_k 4 asks each side for (engine.MIN_CANDIDATES)


# --- the corpus ----------------------------------------------------------------------------------


def vocabulary(size: int, rng: np.random.Generator) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES, size=int(rng.integers(2, 4)))))
    return sorted(words)


def corpus(chunks: int, seed: int = 7) -> list[str]:
    rng = np.random.default_rng(seed)
    words = np.asarray(vocabulary(30_000, rng))
    ranks = np.arange(1, len(words) + 1)
    weights = 1.0 / ranks
    weights /= weights.sum()
    lengths = rng.integers(60, 120, size=chunks)
    drawn = rng.choice(len(words), size=int(lengths.sum()), p=weights)
    out: list[str] = []
    at = 0
    for length in lengths:
        out.append(" ".join(words[drawn[at : at + length]]) + ".")
        at += int(length)
    return out


def queries(texts: Sequence[str], count: int, seed: int = 11) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for i in rng.integers(0, len(texts), size=count):
        words = texts[int(i)].rstrip(".").split()
        out.append(" ".join(rng.choice(words, size=4, replace=False)))
    return out


# --- a fast fake embedding endpoint ----------------------------------------------------------------


# What the fake endpoint answers with: "random" or "words" (set before its process starts).
EMBEDDINGS = {"kind": "random"}
WORD = re.compile(r"\w+")


def fake_vector(text: str, kind: str | None = None) -> np.ndarray:
    if (kind or EMBEDDINGS["kind"]) == "words":
        # as tests/fakes/upstream.py: each lower-case word adds 1 to a dimension its hash picks
        vector = np.zeros(DIMENSIONS, dtype=np.float32)
        for word in WORD.findall(text.lower()):
            vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % DIMENSIONS] += 1.0
        return vector
    seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
    return np.random.default_rng(seed).standard_normal(DIMENSIONS).astype(np.float32)


async def _embeddings(request: web.Request) -> web.Response:
    body = orjson.loads(await request.read())
    data = [{"index": i, "embedding": fake_vector(t)} for i, t in enumerate(body["input"])]
    payload = orjson.dumps({"data": data}, option=orjson.OPT_SERIALIZE_NUMPY)
    return web.Response(body=payload, content_type="application/json")


def _serve(sock: socket.socket) -> None:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/embeddings", _embeddings)
    web.run_app(app, sock=sock, print=None, access_log=None, handle_signals=True)


class FakeEmbeddings:
    """``POST /v1/embeddings`` on loopback, in a process of its own (never competing for our GIL)."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._process = multiprocessing.get_context("fork").Process(
            target=_serve, args=(self._sock,), daemon=True
        )

    def start(self) -> FakeEmbeddings:
        self._process.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return self
            time.sleep(0.05)
        raise RuntimeError("the fake embedding endpoint did not start")

    def stop(self) -> None:
        self._process.terminate()
        self._process.join(10)
        self._sock.close()


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Result:
    database: str
    chunks: int
    embeddings: str = "random"
    keyword_index_rate: float = 0.0
    embedded_index_rate: float = 0.0
    # label -> (p50 ms, p99 ms, CPU ms a search)
    latency: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    # The bare scans (held vectors only): label -> (p50 ms, p99 ms)
    scans: dict[str, tuple[float, float]] = field(default_factory=dict)
    # The approximate scan's results against the exact scan's: top 4, and 20 candidates.
    recall: dict[str, float] = field(default_factory=dict)
    # mode -> (held MiB, raw MiB)
    memory: dict[str, tuple[float, float]] = field(default_factory=dict)
    # The machine's load average (1 minute) before and after the searches: on a shared machine
    # the latencies follow it.
    load: tuple[float, float] = (0.0, 0.0)


async def _seed(engine: Any, dataset_id: str, texts: Sequence[str]) -> list[list[Any]]:
    """Documents of ``DOCUMENT_SIZE`` segments each, written straight to the store."""
    now = utcnow()
    batches: list[list[Any]] = []
    for start in range(0, len(texts), DOCUMENT_SIZE):
        document_id = new_id()
        rows: list[dict[str, Any]] = [
            {
                "id": new_id(),
                "dataset_id": dataset_id,
                "document_id": document_id,
                "position": i + 1,
                "content": text,
                "answer": None,
                "keywords": [],
                "word_count": len(text),
                "tokens": len(text.split()),
                "index_node_id": new_id(),
                "index_node_hash": "0" * 64,
                "hit_count": 0,
                "enabled": True,
                "status": "completed",
                "created_by": OWNER,
                "indexing_at": now,
                "completed_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for i, text in enumerate(texts[start : start + DOCUMENT_SIZE])
        ]
        async with engine.begin() as conn:
            await conn.execute(
                documents.insert().values(
                    id=document_id,
                    dataset_id=dataset_id,
                    position=start // DOCUMENT_SIZE + 1,
                    data_source_type="upload_file",
                    batch="20260101000000000001",
                    name=f"doc-{start // DOCUMENT_SIZE}.md",
                    created_from="api",
                    created_by=OWNER,
                    indexing_status="completed",
                    enabled=True,
                    archived=False,
                    doc_form="text_model",
                    created_at=now,
                    updated_at=now,
                )
            )
            await segment_store.insert_segments(conn, rows)
            batches.append(await segment_store.by_ids(conn, [str(r["id"]) for r in rows]))
    return batches


async def _dataset(engine: Any, name: str, technique: str) -> DatasetRecord:
    dataset_id = new_id()
    now = utcnow()
    async with engine.begin() as conn:
        await dataset_store.insert_dataset(
            conn,
            id=dataset_id,
            name=name,
            description="",
            provider="vendor",
            permission="only_me",
            data_source_type="upload_file",
            indexing_technique=technique,
            enable_api=True,
            partial_member_list=[],
            created_by=OWNER,
            created_at=now,
            updated_at=now,
        )
        found = await dataset_store.dataset(conn, dataset_id)
    assert found is not None
    return found


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def _plan(dataset: DatasetRecord, method: str) -> SearchPlan:
    model = RetrievalModel.model_validate(
        {
            "search_method": method,
            "top_k": TOP_K,
            "reranking_mode": "weighted_score",
            "weights": {
                "vector_setting": {"vector_weight": 0.7},
                "keyword_setting": {"keyword_weight": 0.3},
            },
        }
    )
    return SearchPlan.of(model, embeds=dataset.indexing_technique == "high_quality")


async def _time(
    search: KnowledgeSearch, dataset: DatasetRecord, method: str, asked: Sequence[str]
) -> tuple[float, float, float]:
    plan = _plan(dataset, method)
    await search.search(dataset, asked[0], plan)  # warm: vectors loaded, statements prepared
    samples = []
    cpu = time.process_time()
    for query in asked:
        started = time.perf_counter()
        await search.search(dataset, query, plan)
        samples.append(time.perf_counter() - started)
    cpu_ms = (time.process_time() - cpu) * 1000 / len(asked)
    return (*_percentiles(samples), cpu_ms)


def _scans(exact: Any, approximate: Any, asked: Sequence[str], result: Result) -> None:
    """The bare scans' latency, and the approximate scan's recall against the exact one."""
    from difychat.server.services.retrieval.matrices import unit_rows

    vectors = unit_rows(np.stack([fake_vector(q) for q in asked]))
    found: dict[str, list[float]] = {"exact": [], "approximate": []}
    hits = {TOP_K: 0, CANDIDATES: 0}
    for row in vectors:
        for label, held in (("exact", exact), ("approximate", approximate)):
            started = time.perf_counter()
            held.search(row, CANDIDATES)
            found[label].append(time.perf_counter() - started)
        for k in hits:
            truth = {s for s, _ in exact.search(row, k)}
            hits[k] += len(truth & {s for s, _ in approximate.search(row, k)})
    for label, samples in found.items():
        result.scans[label] = _percentiles(samples)
    for k, hit in hits.items():
        result.recall[f"recall@{k}"] = hit / (k * len(vectors))


async def run(url: str, database: str, chunks: int, query_count: int, log: Any = print) -> Result:
    texts = corpus(chunks)
    asked = queries(texts, query_count)
    result = Result(database, chunks, EMBEDDINGS["kind"])
    fake = FakeEmbeddings().start()
    engine = db.create_engine(url, pool_size=4)
    session = aiohttp.ClientSession()
    try:
        embeddings = OpenAICompatibleEmbeddings(
            session, model="fake-384", base_url=f"http://127.0.0.1:{fake.port}/v1", api_key=None, timeout=60
        )
        models = KnowledgeModels(embeddings=embeddings)
        search = KnowledgeSearch(engine, models)
        economy = await _dataset(engine, "economy", "economy")
        quality = await _dataset(engine, "quality", "high_quality")
        for dataset in (economy, quality):
            batches = await _seed(engine, dataset.id, texts)
            started = time.perf_counter()
            for batch in batches:
                await search.indexer.index(dataset, batch)
            rate = chunks / (time.perf_counter() - started)
            if dataset is economy:
                result.keyword_index_rate = rate
            else:
                result.embedded_index_rate = rate
            log(f"{database}: indexed {chunks} chunks ({dataset.indexing_technique}) at {rate:.0f}/s")
        await search.indexer.remove(economy.id, [])  # nothing: a no-op write path check
        approximate = KnowledgeSearch(engine, models, VectorCache(approximate=True))
        runs = {
            "keyword (economy)": (search, economy, "keyword_search"),
            "full text": (search, quality, "full_text_search"),
            "vector, exact": (search, quality, "semantic_search"),
            "vector, approximate": (approximate, quality, "semantic_search"),
            "hybrid (weighted 0.7 / 0.3), exact": (search, quality, "hybrid_search"),
            "hybrid (weighted 0.7 / 0.3), approximate": (approximate, quality, "hybrid_search"),
        }
        before = os.getloadavg()[0]
        for label, (searcher, dataset, method) in runs.items():
            result.latency[label] = await _time(searcher, dataset, method, asked)
            p50, p99, cpu = result.latency[label]
            log(f"{database}: {label}: p50 {p50:.1f} ms, p99 {p99:.1f} ms, CPU {cpu:.1f} ms a search")
        result.load = (before, os.getloadavg()[0])
        for mode, searcher in (("exact", search), ("approximate", approximate)):
            held = searcher.vectors.held(quality.id)
            if held is not None:
                result.memory[mode] = (held.held_bytes / 2**20, held.raw_bytes / 2**20)
        exact_held, approximate_held = search.vectors.held(quality.id), approximate.vectors.held(quality.id)
        if exact_held is not None and approximate_held is not None:
            _scans(exact_held.frozen(), approximate_held.frozen(), asked, result)
            log(f"{database}: scans {result.scans}, {result.recall}")
        await search.close()
        await approximate.close()
    finally:
        await session.close()
        await engine.dispose()
        fake.stop()
    return result


def report(results: Sequence[Result], note: str) -> str:
    lines = [
        "# Knowledge retrieval benchmark",
        "",
        note,
        "",
        "| database | chunks | keyword indexing (chunks/s) | indexing with embeddings (chunks/s) | "
        "search | p50 ms | p99 ms | CPU ms a search |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for i, (label, (p50, p99, cpu)) in enumerate(r.latency.items()):
            first = i == 0
            lines.append(
                f"| {r.database if first else ''} | {r.chunks if first else ''} | "
                f"{f'{r.keyword_index_rate:.0f}' if first else ''} | "
                f"{f'{r.embedded_index_rate:.0f}' if first else ''} | {label} | {p50:.1f} | {p99:.1f} | "
                f"{cpu:.1f} |"
            )
    lines += [
        "",
        "| database | embeddings | exact scan p50 / p99 ms | approximate scan p50 / p99 ms | "
        f"recall@{TOP_K} | recall@{CANDIDATES} | held / raw MiB (exact) | held / raw MiB (approximate) | "
        "load average (before, after) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:

        def scan(mode: str, r: Result = r) -> str:
            p50, p99 = r.scans.get(mode, (0.0, 0.0))
            return f"{p50:.1f} / {p99:.1f}"

        def memory(mode: str, r: Result = r) -> str:
            held, raw = r.memory.get(mode, (0.0, 0.0))
            return f"{held:.1f} / {raw:.1f} ({held / raw if raw else 0.0:.3f}x)"

        lines.append(
            f"| {r.database} | {r.embeddings} | {scan('exact')} | {scan('approximate')} | "
            f"{r.recall.get(f'recall@{TOP_K}', 0.0):.3f} | {r.recall.get(f'recall@{CANDIDATES}', 0.0):.3f} | "
            f"{memory('exact')} | {memory('approximate')} | {r.load[0]:.1f}, {r.load[1]:.1f} |"
        )
    return "\n".join(lines) + "\n"


def _postgres_url() -> str:
    return os.environ.get(
        "DIFYCHAT_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )


async def _fresh_postgres(base: str) -> str:
    import asyncpg  # type: ignore[import-not-found,unused-ignore]

    name = "difychat_bench_knowledge"
    plain = base.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(plain)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name}")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return base.rsplit("/", 1)[0] + "/" + name


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--db", action="append", choices=("sqlite", "postgres"))
    parser.add_argument("--embeddings", choices=("random", "words"), default="random")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    EMBEDDINGS["kind"] = args.embeddings
    results = []
    for database in args.db or ["sqlite"]:
        if database == "sqlite":
            url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='difychat-bench-')}/knowledge.db"
        else:
            url = asyncio.run(_fresh_postgres(_postgres_url()))
        db.upgrade(url)
        results.append(asyncio.run(run(url, database, args.chunks, args.queries)))
    note = (
        f"{args.chunks} chunks of 60-120 words, {args.queries} queries of 4 words per search method, "
        "top_k 4; latency of `KnowledgeSearch.search` in process (candidates, fusion, visibility, "
        f"the segments' rows). Embeddings: {DIMENSIONS} dimensions ({args.embeddings}) from a fake endpoint "
        "on loopback."
    )
    text = report(results, note)
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
