"""Segments of a document: listed, added by hand, read, changed, deleted; changes reach the index
before they are answered."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.documents.chunking import count_tokens
from difychat.server.domain.knowledge import (
    COMPLETED,
    DatasetRecord,
    DocumentRecord,
    SegmentIndexer,
    SegmentRecord,
)
from difychat.server.domain.paging import NumberedPage
from difychat.server.errors import (
    DOCUMENT_DISABLED,
    DOCUMENT_NOT_COMPLETED,
    DOCUMENT_NOT_FOUND,
    SEGMENT_NOT_FOUND,
    InvalidParam,
    NotFound,
)
from difychat.server.services.knowledge import OWNER_ID
from difychat.server.services.knowledge.indexing import segment_row
from difychat.server.store import documents as document_store
from difychat.server.store import segments as store
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.db import write_transaction

STATUSES = ("waiting", "indexing", "completed", "error", "re_segment")
# Rounds of indexing an edited segment again after another edit changed it meanwhile.
MAX_REINDEX = 4


@dataclass(frozen=True, slots=True)
class NewSegment:
    content: str
    answer: str | None = None
    keywords: list[str] | None = None


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class SegmentService:
    def __init__(self, engine: AsyncEngine, indexer: SegmentIndexer, *, max_per_request: int = 0) -> None:
        self._engine = engine
        self._indexer = indexer
        self._max_per_request = max_per_request

    async def document(self, dataset_id: str, document_id: str) -> DocumentRecord:
        async with self._engine.connect() as conn:
            found = await document_store.document(conn, dataset_id, document_id)
        if found is None:
            raise NotFound(DOCUMENT_NOT_FOUND)
        return found

    async def listing(
        self,
        document: DocumentRecord,
        *,
        page: int,
        limit: int,
        statuses: Sequence[str],
        keyword: str | None,
    ) -> NumberedPage[SegmentRecord]:
        async with self._engine.connect() as conn:
            found, total = await store.list_segments(
                conn, document.id, statuses=statuses, keyword=keyword, page=page, limit=limit
            )
        return NumberedPage(found, total, page, limit)

    async def add(
        self, dataset: DatasetRecord, document: DocumentRecord, items: Sequence[NewSegment]
    ) -> list[SegmentRecord]:
        if document.indexing_status != COMPLETED:
            raise NotFound(DOCUMENT_NOT_COMPLETED)
        if not document.enabled:
            raise NotFound(DOCUMENT_DISABLED)
        if self._max_per_request and len(items) > self._max_per_request:
            raise InvalidParam(f"Exceeded maximum segments per request ({self._max_per_request}).")
        for item in items:
            if not item.content.strip():
                raise InvalidParam("Content is empty")
            if document.doc_form == "qa_model" and not (item.answer or "").strip():
                raise InvalidParam("Answer is required")
        now = utcnow()
        # Held document: adds at once take positions one after the other, and a removal
        # either comes first (the add finds no document) or after (and deletes what it added).
        async with write_transaction(self._engine) as conn:
            if not await document_store.hold(conn, document.id):
                raise NotFound(DOCUMENT_NOT_FOUND)
            position = await store.max_position(conn, document.id)
            rows: list[dict[str, Any]] = []
            for offset, item in enumerate(items, start=1):
                text = item.content
                rows.append(
                    {
                        "id": new_id(),
                        "dataset_id": dataset.id,
                        "document_id": document.id,
                        "position": position + offset,
                        "content": text,
                        "answer": item.answer,
                        "keywords": list(item.keywords or []),
                        "word_count": len(text) + len(item.answer or ""),
                        "tokens": count_tokens(text + (item.answer or "")),
                        "index_node_id": new_id(),
                        "index_node_hash": _hash(text),
                        "hit_count": 0,
                        "enabled": True,
                        "disabled_at": None,
                        "disabled_by": None,
                        "status": COMPLETED,
                        "created_by": OWNER_ID,
                        "updated_by": None,
                        "indexing_at": now,
                        "completed_at": now,
                        "error": None,
                        "stopped_at": None,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            await store.insert_segments(conn, rows)
            created = await store.by_ids(conn, [str(r["id"]) for r in rows])
        try:
            await self._indexer.index(dataset, created)
        except BaseException:
            # Never half-added: rows the index does not know are taken back.
            async with self._engine.begin() as conn:
                await store.delete_segments(conn, [s.id for s in created])
            raise
        await self._recount(document.id)
        return created

    async def get(self, document: DocumentRecord, segment_id: str) -> SegmentRecord:
        async with self._engine.connect() as conn:
            found = await store.segment(conn, document.id, segment_id)
        if found is None:
            raise NotFound(SEGMENT_NOT_FOUND)
        return found

    async def update(
        self, dataset: DatasetRecord, document: DocumentRecord, segment_id: str, changes: dict[str, Any]
    ) -> SegmentRecord:
        current = await self.get(document, segment_id)
        now = utcnow()
        values: dict[str, Any] = {}
        reindex = False
        if "content" in changes and changes["content"] is not None:
            content = changes["content"]
            if not isinstance(content, str) or not content.strip():
                raise InvalidParam("Content is empty")
            if content != current.content:
                values.update(content=content, index_node_hash=_hash(content))
                reindex = True
        if "answer" in changes and changes["answer"] is not None:
            if not isinstance(changes["answer"], str):
                raise InvalidParam("answer must be a string")
            if document.doc_form == "qa_model" and not changes["answer"].strip():
                raise InvalidParam("Answer is required")
            if changes["answer"] != current.answer:
                values["answer"] = changes["answer"]
                reindex = True
        if "keywords" in changes and changes["keywords"] is not None:
            keywords = changes["keywords"]
            if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
                raise InvalidParam("keywords must be a list of strings")
            if keywords != current.keywords:
                values["keywords"] = keywords
                reindex = True
        if "enabled" in changes and changes["enabled"] is not None:
            if not isinstance(changes["enabled"], bool):
                raise InvalidParam("enabled must be a boolean")
            enabled = changes["enabled"]
            if enabled != current.enabled:
                values.update(
                    enabled=enabled,
                    disabled_at=None if enabled else now,
                    disabled_by=None if enabled else OWNER_ID,
                )
        if not values:
            return current
        async with write_transaction(self._engine) as conn:
            found = await store.by_ids(conn, [current.id], lock=True)  # as this edit finds it
            if not found:
                raise NotFound(SEGMENT_NOT_FOUND)
            if "content" in values or "answer" in values:
                # Counted over the text as it will be: the part this edit leaves is the row's now
                # (another edit may have changed it since ``current`` was read).
                content = values.get("content", found[0].content)
                answer = values.get("answer", found[0].answer)
                values.update(
                    word_count=len(content) + len(answer or ""), tokens=count_tokens(content + (answer or ""))
                )
            await store.update_segment(conn, current.id, **values, updated_by=OWNER_ID, updated_at=now)
            updated = (await store.by_ids(conn, [current.id]))[0]
        if reindex:
            try:
                await self._index_as_stored(dataset, updated)
            except BaseException:
                # The index still holds the text from before this edit: so does the row again,
                # unless another edit followed this one. Only what this edit set is set back.
                before = segment_row(found[0])
                undo = {k: before[k] for k in values}
                async with self._engine.begin() as conn:
                    await store.undo_segment_edit(
                        conn,
                        current.id,
                        now,
                        **undo,
                        updated_by=before["updated_by"],
                        updated_at=before["updated_at"],
                    )
                raise
        await self._recount(document.id)
        return updated

    async def _index_as_stored(self, dataset: DatasetRecord, segment: SegmentRecord) -> None:
        """Index ``segment``, and again while another edit changed its text meanwhile: edits of one
        segment at once may index in any order, and the last index written must be the row's."""
        for _ in range(MAX_REINDEX):
            await self._indexer.index(dataset, [segment])
            async with self._engine.connect() as conn:
                found = await store.by_ids(conn, [segment.id])
            if not found or _indexed_text(found[0]) == _indexed_text(segment):
                return
            segment = found[0]

    async def delete(self, dataset: DatasetRecord, document: DocumentRecord, segment_id: str) -> None:
        current = await self.get(document, segment_id)
        await self._indexer.remove(dataset.id, [current.id])
        async with self._engine.begin() as conn:
            await store.delete_segments(conn, [current.id])
        await self._recount(document.id)

    async def _recount(self, document_id: str) -> None:
        async with self._engine.begin() as conn:
            await store.recount_document(conn, document_id)


def _indexed_text(segment: SegmentRecord) -> tuple[str, str | None, list[str]]:
    return segment.content, segment.answer, segment.keywords
