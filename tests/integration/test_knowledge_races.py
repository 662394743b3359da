"""Knowledge changes that race each other: metadata values set while their field is renamed or
deleted end up under the names the fields have, and a document updated twice at once keeps one
file, the last one."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.errors import NotFound
from difychat.server.services.knowledge.metadata import DocumentChange, MetadataService, ValueChange
from difychat.server.store import db
from difychat.server.store.schema import (
    dataset_files,
    dataset_metadata_bindings,
    dataset_metadata_fields,
    document_segments,
    documents,
    knowledge_index,
)
from tests.integration import knowledge_seed as seed
from tests.integration.conftest import ServerFactory
from tests.integration.helpers import database
from tests.integration.knowledge_helpers import FAST, knowledge_key, make_dataset, wait_for_batch

pytestmark = pytest.mark.anyio

DOCUMENTS = 24


async def dataset_with_documents(engine: AsyncEngine) -> tuple[str, list[str]]:
    dataset_id = await seed.dataset(engine, "races")
    ids = []
    for n in range(DOCUMENTS):
        segments = await seed.document(engine, dataset_id, f"doc {n}", [f"text {n}"])
        ids.append(segments[0].document_id)
    return dataset_id, ids


Stored = tuple[dict[str, str], dict[str, Any], set[tuple[str, str]]]


async def stored(engine: AsyncEngine, dataset_id: str) -> Stored:
    """The fields (id: name), each document's values, and the (document, field) bindings."""
    async with engine.connect() as conn:
        fields = {
            str(r.id): r.name
            for r in await conn.execute(
                sa.select(dataset_metadata_fields).where(dataset_metadata_fields.c.dataset_id == dataset_id)
            )
        }
        d = documents.c
        values = {
            str(r.id): r.doc_metadata
            for r in await conn.execute(sa.select(d.id, d.doc_metadata).where(d.dataset_id == dataset_id))
        }
        bindings = {
            (str(r.document_id), str(r.metadata_id))
            for r in await conn.execute(sa.select(dataset_metadata_bindings))
        }
    return fields, values, bindings


def assert_consistent(fields: dict[str, str], values: dict[str, Any], bindings: set[tuple[str, str]]) -> None:
    for document_id, carried in values.items():
        bound = {fields[m] for d, m in bindings if d == document_id and m in fields}
        assert set(carried or {}) == bound, f"document {document_id}: values {carried}, fields {bound}"
    assert all(m in fields for _, m in bindings), "a binding to a field that is gone"


async def test_values_set_while_their_field_is_renamed_end_up_under_its_last_name(database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        dataset_id, document_ids = await dataset_with_documents(engine)
        service = MetadataService(engine)
        field = await service.create(dataset_id, "string", "author")

        async def set_value(document_id: str) -> None:
            value = ValueChange(field.id, f"by {document_id[:4]}")
            change = DocumentChange(document_id, [value], partial=True)
            await service.update_documents(dataset_id, [change])

        async def rename(n: int) -> None:
            await asyncio.sleep(0.002 * n)
            await service.rename(dataset_id, field.id, f"author {n}")

        await asyncio.gather(*(set_value(d) for d in document_ids), *(rename(n) for n in range(8)))
        fields, values, bindings = await stored(engine, dataset_id)
        assert_consistent(fields, values, bindings)
        last = fields[field.id]
        assert all(values[d] == {last: f"by {d[:4]}"} for d in document_ids)
    finally:
        await engine.dispose()


async def test_values_set_while_their_field_is_deleted_are_refused_or_removed(database_url: str) -> None:
    engine = db.create_engine(database_url)
    try:
        dataset_id, document_ids = await dataset_with_documents(engine)
        service = MetadataService(engine)
        kept = await service.create(dataset_id, "string", "kept")
        doomed = await service.create(dataset_id, "number", "doomed")
        outcomes: list[str] = []

        async def set_values(document_id: str) -> None:
            change = DocumentChange(document_id, [ValueChange(kept.id, "k"), ValueChange(doomed.id, 1)])
            try:
                await service.update_documents(dataset_id, [change])
            except NotFound:
                outcomes.append("refused")  # the field was gone: nothing of the change is written
            else:
                outcomes.append("set")

        async def delete() -> None:
            await asyncio.sleep(0.01)
            await service.delete(dataset_id, doomed.id)

        await asyncio.gather(*(set_values(d) for d in document_ids), delete())
        fields, values, bindings = await stored(engine, dataset_id)
        assert fields == {kept.id: "kept"}
        assert_consistent(fields, values, bindings)
        assert len(outcomes) == DOCUMENTS
        for document_id in document_ids:
            assert values[document_id] in (None, {}, {"kept": "k"})
    finally:
        await engine.dispose()


async def indexed_document(kb: httpx.AsyncClient, dataset_name: str, text: str) -> tuple[dict[str, Any], str]:
    """A new dataset with one document of ``text``, indexed: the dataset and the document's id."""
    dataset = await make_dataset(kb, dataset_name)
    body = {
        "name": "notes",
        "text": text,
        "indexing_technique": "economy",
        "process_rule": {"mode": "automatic"},
    }
    created = (await kb.post(f"/datasets/{dataset['id']}/document/create-by-text", json=body)).json()
    await wait_for_batch(kb, dataset["id"], created["batch"])
    return dataset, str(created["document"]["id"])


async def test_a_document_updated_twice_at_once_keeps_only_its_last_file(make_server: ServerFactory) -> None:
    server = await make_server(**FAST)
    async with server.client(await knowledge_key(server)) as kb:
        dataset, document_id = await indexed_document(kb, "updates", "v0")
        base = f"/datasets/{dataset['id']}"
        updates = await asyncio.gather(
            *(
                kb.post(
                    f"{base}/documents/{document_id}/update-by-text", json={"name": "notes", "text": f"v{n}"}
                )
                for n in range(1, 5)
            )
        )
        assert [u.status_code for u in updates] == [200] * 4
        for update in updates:  # the batches the later updates replaced name no document any more
            batch = update.json()["batch"]
            if (await kb.get(f"{base}/documents/{batch}/indexing-status")).status_code == 200:
                await wait_for_batch(kb, dataset["id"], batch)
    async with database(server) as engine, engine.connect() as conn:
        files = (
            await conn.execute(
                sa.select(dataset_files.c.id).where(dataset_files.c.dataset_id == dataset["id"])
            )
        ).all()
        current = (
            await conn.execute(sa.select(documents.c.file_id).where(documents.c.id == document_id))
        ).scalar_one()
    # Each update replaced the file the one before it left: none is left behind.
    assert [str(f.id) for f in files] == [str(current)]


async def test_datasets_created_at_once_under_one_name_make_one_and_refuse_the_rest(
    make_server: ServerFactory,
) -> None:
    server = await make_server(**FAST)
    async with server.client(await knowledge_key(server)) as kb:
        created = await asyncio.gather(*(kb.post("/datasets", json={"name": "same"}) for _ in range(8)))
        other = await make_dataset(kb, "other")
        renamed = await asyncio.gather(
            *(kb.patch(f"/datasets/{other['id']}", json={"name": "same"}) for _ in range(2))
        )
        listed = (await kb.get("/datasets", params={"limit": "100"})).json()["data"]
    assert sorted(r.status_code for r in created) == [200] + [409] * 7
    assert {r.json()["code"] for r in created if r.status_code == 409} == {"dataset_name_duplicate"}
    assert [r.status_code for r in renamed] == [409, 409]
    assert sorted(d["name"] for d in listed) == ["other", "same"]


async def test_a_segment_edited_several_times_at_once_is_found_by_its_last_text_only(
    make_server: ServerFactory,
) -> None:
    server = await make_server(**FAST)
    words = ["amber", "basalt", "cobalt", "dune", "ember", "fjord"]
    async with server.client(await knowledge_key(server)) as kb:
        dataset, document_id = await indexed_document(kb, "edits", "granite")
        base = f"/datasets/{dataset['id']}"
        doc = f"{base}/documents/{document_id}"
        segment_id = (await kb.get(f"{doc}/segments")).json()["data"][0]["id"]
        edits = await asyncio.gather(
            *(kb.post(f"{doc}/segments/{segment_id}", json={"segment": {"content": w}}) for w in words)
        )
        assert [e.status_code for e in edits] == [200] * len(words)
        stored = (await kb.get(f"{doc}/segments/{segment_id}")).json()["data"]["content"]
        found = {}
        for word in [*words, "granite"]:
            model = {
                "search_method": "keyword_search",
                "reranking_enable": False,
                "score_threshold_enabled": False,
                "top_k": 5,
            }
            query = {"query": word, "retrieval_model": model}
            answer = await kb.post(f"{base}/retrieve", json=query)
            assert answer.status_code == 200, answer.text
            records = answer.json()["records"]
            found[word] = [r["segment"]["content"] for r in records]
    # The index says what the row says: the last edit's text finds it, no earlier text does.
    assert found == {w: [stored] if w == stored else [] for w in [*words, "granite"]}


async def test_a_tag_bound_to_a_dataset_being_deleted_is_bound_or_not_found(
    make_server: ServerFactory,
) -> None:
    server = await make_server(**FAST)
    outcomes = []
    async with server.client(await knowledge_key(server)) as kb:
        tag = (await kb.post("/datasets/tags", json={"name": "t"})).json()
        for n in range(6):
            dataset = await make_dataset(kb, f"doomed {n}")
            bind = {"tag_ids": [tag["id"]], "target_id": dataset["id"]}
            bound, deleted = await asyncio.gather(
                kb.post("/datasets/tags/binding", json=bind), kb.delete(f"/datasets/{dataset['id']}")
            )
            outcomes.append((bound.status_code, deleted.status_code))
        listed = {t["id"]: t for t in (await kb.get("/datasets/tags")).json()}
    assert set(outcomes) <= {(204, 204), (404, 204)}, outcomes
    assert listed[tag["id"]]["binding_count"] == "0"


async def test_segments_added_while_their_document_is_deleted_leave_no_index_entry(
    make_server: ServerFactory,
) -> None:
    server = await make_server(**FAST)
    outcomes = []
    async with server.client(await knowledge_key(server)) as kb:
        for n in range(5):
            dataset, document_id = await indexed_document(kb, f"removal {n}", "granite")
            doc = f"/datasets/{dataset['id']}/documents/{document_id}"
            added, deleted = await asyncio.gather(
                kb.post(
                    f"{doc}/segments", json={"segments": [{"content": f"quartz {i}"} for i in range(20)]}
                ),
                kb.delete(doc),
            )
            outcomes.append((added.status_code, deleted.status_code, added.text[:200]))
    async with database(server) as engine, engine.connect() as conn:
        orphans = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(knowledge_index)
                .where(knowledge_index.c.segment_id.not_in(sa.select(document_segments.c.id)))
            )
        ).scalar_one()
    assert orphans == 0, outcomes
    assert {(a, d) for a, d, _ in outcomes} <= {(200, 204), (404, 204)}, outcomes


async def test_segments_added_at_once_take_positions_one_after_the_other_and_are_all_counted(
    make_server: ServerFactory,
) -> None:
    server = await make_server(**FAST)
    async with server.client(await knowledge_key(server)) as kb:
        dataset, document_id = await indexed_document(kb, "positions", "granite")
        doc = f"/datasets/{dataset['id']}/documents/{document_id}"
        added = await asyncio.gather(
            *(
                kb.post(f"{doc}/segments", json={"segments": [{"content": f"q{n} {i}"} for i in range(5)]})
                for n in range(4)
            )
        )
        assert [a.status_code for a in added] == [200] * 4
        listed = (await kb.get(f"{doc}/segments", params={"limit": "100"})).json()["data"]
        counted = (await kb.get(f"/datasets/{dataset['id']}/documents")).json()["data"][0]["word_count"]
    assert sorted(s["position"] for s in listed) == list(range(1, 22))
    assert counted == sum(s["word_count"] for s in listed)  # the last count is of every segment


async def test_a_segments_text_and_answer_edited_at_once_are_counted_together(
    make_server: ServerFactory,
) -> None:
    server = await make_server(**FAST)
    async with server.client(await knowledge_key(server)) as kb:
        dataset, document_id = await indexed_document(kb, "counts", "granite")
        doc = f"/datasets/{dataset['id']}/documents/{document_id}"
        segment = f"{doc}/segments/" + (await kb.get(f"{doc}/segments")).json()["data"][0]["id"]
        for n in range(4):
            text, answer = "t" * (10 + n), "a" * (20 + n)
            edits = await asyncio.gather(
                kb.post(segment, json={"segment": {"content": text}}),
                kb.post(segment, json={"segment": {"answer": answer}}),
            )
            assert [e.status_code for e in edits] == [200, 200]
            stored = (await kb.get(segment)).json()["data"]
            assert (stored["content"], stored["answer"]) == (text, answer)
            assert stored["word_count"] == len(text) + len(answer)
