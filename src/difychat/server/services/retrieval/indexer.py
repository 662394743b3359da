"""The ``SegmentIndexer`` behind datasets: terms into the full-text index, vectors beside them.

Embeddings are computed before the write transaction (no network I/O while it is open); the
entries are written in slices of ``WRITE_BATCH``, each slice one short transaction, so a large
document never holds SQLite's write lock for long. Re-indexing a segment replaces its entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.knowledge import DatasetRecord, SegmentRecord
from difychat.server.providers.embeddings import EmbeddingModel
from difychat.server.services.retrieval.terms import terms
from difychat.server.services.retrieval.vectors import VectorCache
from difychat.server.store import knowledge_index as index_store
from difychat.server.store.db import write_transaction

if TYPE_CHECKING:
    from difychat.server.services.retrieval.matrices import Matrix

WRITE_BATCH = 256
EMBED_BATCH = 64

# The embedding model for a dataset (None: keywords only); raises when the dataset needs one
# that is not configured.
EmbeddingsFor = Callable[[DatasetRecord], EmbeddingModel | None]


def embedded_text(segment: SegmentRecord) -> str:
    """What the vector stands for: the content (a Q&A segment's question)."""
    return segment.content


def keyword_text(segment: SegmentRecord) -> str:
    """What the keyword index holds: the content, the answer, the segment's keywords."""
    return " ".join([segment.content, segment.answer or "", *segment.keywords])


class SearchIndexer:
    def __init__(self, engine: AsyncEngine, vectors: VectorCache, embeddings_for: EmbeddingsFor) -> None:
        self._engine = engine
        self._vectors = vectors
        self._embeddings_for = embeddings_for

    async def index(self, dataset: DatasetRecord, segments: Sequence[SegmentRecord]) -> None:
        model = self._embeddings_for(dataset)
        for start in range(0, len(segments), WRITE_BATCH):
            await self._index_batch(dataset, segments[start : start + WRITE_BATCH], model)

    async def _index_batch(
        self, dataset: DatasetRecord, segments: Sequence[SegmentRecord], model: EmbeddingModel | None
    ) -> None:
        matrix: Matrix | None = None
        blobs: list[bytes | None] = [None] * len(segments)
        if model is not None:
            from difychat.server.services.retrieval.matrices import to_blob, unit_rows

            vectors: list[list[float]] = []
            texts = [embedded_text(s) for s in segments]
            for start in range(0, len(texts), EMBED_BATCH):
                vectors.extend(await model.embed(texts[start : start + EMBED_BATCH]))
            matrix = unit_rows(vectors)
            blobs = [to_blob(row) for row in matrix]
        entries = [
            index_store.IndexEntry(
                segment_id=s.id,
                document_id=s.document_id,
                terms=list(terms(keyword_text(s))),
                embedding=blobs[i],
                embedding_model=None if model is None else model.name,
            )
            for i, s in enumerate(segments)
        ]
        ids = [s.id for s in segments]
        async with write_transaction(self._engine) as conn:
            # Only segments still there get entries: one deleted since it was read (its document
            # removed meanwhile) would leave an entry no removal will ever find.
            await index_store.hold_index(conn, dataset.id)
            await index_store.hold_documents(conn, (s.document_id for s in segments))
            present = await index_store.present_segments(conn, ids)
            kept = [i for i, segment_id in enumerate(ids) if segment_id in present]
            removed, after_removal = await index_store.remove(conn, dataset.id, ids)
            seqs, version = await index_store.insert(conn, dataset.id, [entries[i] for i in kept])
        if removed:
            await self._vectors.written(dataset.id, after_removal, removed=removed)
        if kept:
            added = None if matrix is None else (seqs, [ids[i] for i in kept], matrix[kept])
            await self._vectors.written(dataset.id, version, added=added)

    async def remove(self, dataset_id: str, segment_ids: Sequence[str]) -> None:
        for start in range(0, len(segment_ids), WRITE_BATCH):
            async with self._engine.begin() as conn:
                await index_store.hold_index(conn, dataset_id)
                removed, version = await index_store.remove(
                    conn, dataset_id, segment_ids[start : start + WRITE_BATCH]
                )
            if removed:
                await self._vectors.written(dataset_id, version, removed=removed)

    async def drop_dataset(self, dataset_id: str) -> None:
        async with self._engine.begin() as conn:
            await index_store.hold_index(conn, dataset_id)
            await index_store.drop_dataset(conn, dataset_id)
        self._vectors.forget(dataset_id)
