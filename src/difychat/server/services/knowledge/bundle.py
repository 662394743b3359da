"""The Knowledge API's services, built together over one engine, storage and indexer."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.knowledge import SegmentIndexer
from difychat.server.files.storage import FileStorage
from difychat.server.services.knowledge.datasets import DatasetService
from difychat.server.services.knowledge.documents import DocumentService
from difychat.server.services.knowledge.indexing import IndexingSettings, IndexingWorker
from difychat.server.services.knowledge.keys import KnowledgeKeys
from difychat.server.services.knowledge.metadata import MetadataService
from difychat.server.services.knowledge.segments import SegmentService
from difychat.server.services.knowledge.tags import TagService
from difychat.server.services.knowledge.uploads import DocumentFiles


@dataclass(frozen=True, slots=True)
class Knowledge:
    engine: AsyncEngine
    keys: KnowledgeKeys
    datasets: DatasetService
    documents: DocumentService
    segments: SegmentService
    worker: IndexingWorker
    tags: TagService
    metadata: MetadataService


def build_knowledge(
    engine: AsyncEngine,
    storage: FileStorage,
    indexer: SegmentIndexer,
    settings: IndexingSettings,
    *,
    cache_seconds: float = 0.0,
    max_segments_per_request: int = 0,
) -> Knowledge:
    """The services; the worker is not started (``worker.start()``, then ``worker.stop()``)."""
    worker = IndexingWorker(engine, storage, indexer, settings)
    files = DocumentFiles(storage, max_bytes=settings.max_file_bytes)
    datasets = DatasetService(engine, indexer, storage)
    return Knowledge(
        engine=engine,
        keys=KnowledgeKeys(engine, cache_seconds=cache_seconds),
        datasets=datasets,
        documents=DocumentService(
            engine, indexer, files, max_attempts=settings.max_attempts, wake=worker.wake
        ),
        segments=SegmentService(engine, indexer, max_per_request=max_segments_per_request),
        worker=worker,
        tags=TagService(engine, datasets),
        metadata=MetadataService(engine),
    )
