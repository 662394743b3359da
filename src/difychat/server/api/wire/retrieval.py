"""``POST /datasets/{id}/retrieve`` (and ``/hit-testing``): the records found, best first (§9)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from typing_extensions import TypedDict

from difychat.server.api.wire.common import seconds
from difychat.server.services.retrieval.service import Scored


class RetrievedDocument(TypedDict):
    id: str
    data_source_type: str
    name: str
    doc_type: str | None
    doc_metadata: Any


class RetrievedSegment(TypedDict):
    id: str
    position: int
    document_id: str
    content: str
    sign_content: str
    answer: str | None
    word_count: int
    tokens: int
    keywords: list[str]
    index_node_id: str
    index_node_hash: str
    hit_count: int
    enabled: bool
    disabled_at: int | None
    disabled_by: str | None
    status: str
    created_by: str
    created_at: int
    indexing_at: int | None
    completed_at: int | None
    error: str | None
    stopped_at: int | None
    document: RetrievedDocument


class RetrievalRecord(TypedDict):
    segment: RetrievedSegment
    child_chunks: list[Any]
    score: float
    tsne_position: None
    files: list[Any]
    summary: None


class RetrievalQuery(TypedDict):
    content: str


class Retrieval(TypedDict):
    """The records found, best first."""

    query: RetrievalQuery
    records: list[RetrievalRecord]


def _opt(value: datetime | None) -> int | None:
    return None if value is None else seconds(value)


def record(item: Scored) -> dict[str, Any]:
    found = item.found
    s = found.segment
    segment = {
        "id": s.id,
        "position": s.position,
        "document_id": s.document_id,
        "content": s.content,
        "sign_content": s.content,
        "answer": s.answer,
        "word_count": s.word_count,
        "tokens": s.tokens,
        "keywords": list(s.keywords),
        "index_node_id": s.index_node_id,
        "index_node_hash": s.index_node_hash,
        "hit_count": s.hit_count,
        "enabled": s.enabled,
        "disabled_at": _opt(s.disabled_at),
        "disabled_by": s.disabled_by,
        "status": s.status,
        "created_by": s.created_by,
        "created_at": seconds(s.created_at),
        "indexing_at": _opt(s.indexing_at),
        "completed_at": _opt(s.completed_at),
        "error": s.error,
        "stopped_at": _opt(s.stopped_at),
        "document": {
            "id": s.document_id,
            "data_source_type": found.data_source_type,
            "name": found.document_name,
            "doc_type": found.doc_type,
            "doc_metadata": found.doc_metadata,
        },
    }
    return {
        "segment": segment,
        "child_chunks": [],
        "score": item.score,
        "tsne_position": None,
        "files": [],
        "summary": None,
    }


def retrieval(query: str, found: Sequence[Scored]) -> dict[str, Any]:
    return {"query": {"content": query}, "records": [record(item) for item in found]}
