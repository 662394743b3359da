"""Datasets, documents and segments written straight into the store, for the search tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.knowledge import SegmentRecord
from difychat.server.store import datasets as dataset_store
from difychat.server.store import segments as segment_store
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.schema import documents

OWNER = "6ad1c0de-0000-4000-8000-000000000001"


async def dataset(engine: AsyncEngine, name: str, technique: str | None = "economy", **values: Any) -> str:
    dataset_id = new_id()
    now = utcnow()
    async with engine.begin() as conn:
        await dataset_store.insert_dataset(
            conn,
            id=dataset_id,
            name=name,
            description=values.pop("description", ""),
            provider="vendor",
            permission="only_me",
            data_source_type="upload_file",
            indexing_technique=technique,
            enable_api=True,
            partial_member_list=[],
            created_by=OWNER,
            created_at=now,
            updated_at=now,
            **values,
        )
    return dataset_id


async def document(
    engine: AsyncEngine,
    dataset_id: str,
    name: str,
    texts: Sequence[str | tuple[str, str]],
    *,
    status: str = "completed",
) -> list[SegmentRecord]:
    """A document whose segments are ``texts`` (a pair is a question and its answer)."""
    document_id = new_id()
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for position, text in enumerate(texts, start=1):
        content, answer = (text, None) if isinstance(text, str) else text
        rows.append(
            {
                "id": new_id(),
                "dataset_id": dataset_id,
                "document_id": document_id,
                "position": position,
                "content": content,
                "answer": answer,
                "keywords": [],
                "word_count": len(content),
                "tokens": len(content.split()),
                "index_node_id": new_id(),
                "index_node_hash": "h" * 64,
                "hit_count": 0,
                "enabled": True,
                "status": "completed",
                "created_by": OWNER,
                "indexing_at": now,
                "completed_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
    async with engine.begin() as conn:
        await conn.execute(
            documents.insert().values(
                id=document_id,
                dataset_id=dataset_id,
                position=1,
                data_source_type="upload_file",
                batch="20260101000000000001",
                name=name,
                created_from="api",
                created_by=OWNER,
                indexing_status=status,
                enabled=True,
                archived=False,
                doc_form="text_model" if all(isinstance(t, str) for t in texts) else "qa_model",
                created_at=now,
                updated_at=now,
            )
        )
        await segment_store.insert_segments(conn, rows)
        return await segment_store.by_ids(conn, [r["id"] for r in rows])
