"""DifyKnowledge and AsyncDifyKnowledge against the real server: datasets, documents from text,
bytes and paths, waiting for indexing, segments, and the typed errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from difychat import AsyncDifyKnowledge, DifyKnowledge, NotFoundError
from difychat._errors import APIStatusError
from tests.integration.conftest import ServerFactory
from tests.integration.knowledge_helpers import FAST, knowledge_key
from tests.knowledge_files import docx

pytestmark = pytest.mark.anyio


async def test_async_client(make_server: ServerFactory, tmp_path: Path) -> None:
    server = await make_server(**FAST)
    key = await knowledge_key(server)
    async with AsyncDifyKnowledge(api_key=key, base_url=server.base_url + "/v1") as kb:
        docs = await kb.create_dataset("Docs", description="the manual", indexing_technique="economy")
        assert docs.name == "Docs" and docs.indexing_technique == "economy"
        text = await kb.create_document_from_text(
            docs.id, "intro", "First part.\nSecond part.", max_tokens=100, separator="\n"
        )
        assert text.document.indexing_status == "waiting"
        path = tmp_path / "memo.docx"
        path.write_bytes(docx(["A memo from a path."]))
        from_path = await kb.create_document_from_file(docs.id, path)
        from_bytes = await kb.create_document_from_file(docs.id, b"# From bytes", filename="bytes.md")
        for done in (text, from_path, from_bytes):
            status = await kb.wait_for_indexing(docs.id, done.batch, interval=0.05, timeout=30)
            assert status.finished and not status.failed, status
        segments = await kb.list_segments(docs.id, text.document.id)
        assert [s.content for s in segments.data] == ["First part.", "Second part."]
        added = await kb.add_segments(docs.id, text.document.id, ["Third part.", {"content": "Fourth part."}])
        assert [s.position for s in added] == [3, 4]
        changed = await kb.update_segment(docs.id, text.document.id, added[0].id, content="Third, changed.")
        assert changed.content == "Third, changed."
        await kb.delete_segment(docs.id, text.document.id, added[1].id)
        assert (await kb.list_segments(docs.id, text.document.id)).total == 3
        listing = await kb.list_documents(docs.id)
        assert listing.total == 3 and {d.name for d in listing.data} == {"intro", "memo.docx", "bytes.md"}
        await kb.set_documents_status(docs.id, "disable", [from_path.document.id])
        assert (await kb.get_document(docs.id, from_path.document.id)).display_status == "disabled"
        renamed = await kb.update_dataset(docs.id, name="Manual")
        assert renamed.name == "Manual"
        assert (await kb.list_datasets()).total == 1
        with pytest.raises(NotFoundError):
            await kb.get_segment(docs.id, text.document.id, "00000000-0000-4000-8000-000000000000")
        await kb.delete_document(docs.id, from_bytes.document.id)
        await kb.delete_dataset(docs.id)
        with pytest.raises(NotFoundError):
            await kb.get_dataset(docs.id)


async def test_sync_client(make_server: ServerFactory) -> None:
    server = await make_server(**FAST)
    key = await knowledge_key(server)

    def script() -> None:
        with DifyKnowledge(api_key=key, base_url=server.base_url + "/v1") as kb:
            docs = kb.create_dataset("Sync", indexing_technique="economy")
            done = kb.create_document_from_file(docs.id, b"not a pdf", filename="bad.pdf")
            status = kb.wait_for_indexing(docs.id, done.batch, interval=0.05, timeout=30)
            assert [item.id for item in status.failed] == [done.document.id]
            assert "parsing failed" in (status.failed[0].error or "")
            fixed = kb.update_document_from_text(docs.id, done.document.id, name="good", text="Now it reads.")
            assert fixed.document.id == done.document.id
            assert kb.wait_for_indexing(docs.id, fixed.batch, interval=0.05).failed == []
            with pytest.raises(APIStatusError) as refused:
                kb.create_dataset("Sync")
            assert refused.value.status_code == 409

    await asyncio.to_thread(script)


async def test_tags_and_metadata_through_both_clients(make_server: ServerFactory) -> None:
    server = await make_server(**FAST)
    key = await knowledge_key(server)
    async with AsyncDifyKnowledge(api_key=key, base_url=server.base_url + "/v1") as kb:
        docs = await kb.create_dataset("Docs", indexing_technique="economy")
        await kb.create_dataset("Other", indexing_technique="economy")
        guide = await kb.create_tag("guide")
        assert (guide.name, guide.binding_count) == ("guide", 0)
        await kb.bind_tags(docs.id, [guide.id])
        assert [(t.name, t.binding_count) for t in await kb.list_tags()] == [("guide", 1)]
        assert [t.name for t in (await kb.get_dataset_tags(docs.id)).data] == ["guide"]
        assert [d.name for d in (await kb.list_datasets(tag_ids=[guide.id])).data] == ["Docs"]
        assert (await kb.rename_tag(guide.id, "guides")).binding_count == 1
        author = await kb.create_metadata_field(docs.id, "author")
        year = await kb.create_metadata_field(docs.id, "year", "number")
        done = await kb.create_document_from_text(docs.id, "intro", "Hello there.")
        await kb.update_document_metadata(
            docs.id, done.document.id, [{"id": author.id, "name": "author", "value": "Ada"}]
        )
        await kb.update_document_metadata(
            docs.id, done.document.id, [{"id": year.id, "name": "year", "value": 1843}], partial_update=True
        )
        document = await kb.get_document(docs.id, done.document.id)
        assert [(m.name, m.value) for m in document.doc_metadata or []] == [("author", "Ada"), ("year", 1843)]
        fields = await kb.list_metadata_fields(docs.id)
        assert [(f.name, f.count) for f in fields.doc_metadata] == [("author", 1), ("year", 1)]
        await kb.set_built_in_metadata(docs.id, True)
        dataset = await kb.get_dataset(docs.id)
        assert dataset.built_in_field_enabled and [t.name for t in dataset.tags] == ["guides"]
        assert [f.name for f in dataset.doc_metadata][:2] == ["author", "year"]
        await kb.unbind_tag(docs.id, guide.id)

    def script() -> None:
        with DifyKnowledge(api_key=key, base_url=server.base_url + "/v1") as kb:
            assert [f.name for f in kb.built_in_metadata_fields(docs.id)][0] == "document_name"
            assert kb.rename_metadata_field(docs.id, author.id, "writer").name == "writer"
            kb.delete_metadata_field(docs.id, year.id)
            kb.set_built_in_metadata(docs.id, False)
            found = kb.get_document(docs.id, done.document.id).doc_metadata or []
            assert [(m.name, m.value) for m in found] == [("writer", "Ada")]
            kb.delete_tag(guide.id)
            assert kb.list_tags() == []
            with pytest.raises(NotFoundError):
                kb.delete_tag(guide.id)

    await asyncio.to_thread(script)
