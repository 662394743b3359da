"""The Knowledge API end to end on one server: datasets, documents by text and file, indexing to
``completed``, segments, and the wire shapes in the contract's key order."""

from __future__ import annotations

import pytest

from tests.integration.conftest import ServerFactory
from tests.integration.knowledge_helpers import FAST, knowledge_key, make_dataset, wait_for_batch

pytestmark = pytest.mark.anyio

DATASET_KEYS = [
    "id", "name", "description", "provider", "permission", "data_source_type", "indexing_technique",
    "app_count", "document_count", "word_count", "created_by", "author_name", "created_at", "updated_by",
    "updated_at", "embedding_model", "embedding_model_provider", "embedding_available",
    "retrieval_model_dict", "summary_index_setting", "tags", "doc_form", "external_knowledge_info",
    "external_retrieval_model", "doc_metadata", "built_in_field_enabled", "pipeline_id", "runtime_mode",
    "chunk_structure", "icon_info", "is_published", "total_documents", "total_available_documents",
    "enable_api", "is_multimodal",
]  # fmt: skip
DOCUMENT_KEYS = [
    "id", "position", "data_source_type", "data_source_info", "data_source_detail_dict",
    "dataset_process_rule_id", "name", "created_from", "created_by", "created_at", "tokens",
    "indexing_status", "error", "enabled", "disabled_at", "disabled_by", "archived", "display_status",
    "word_count", "hit_count", "doc_form", "doc_metadata", "summary_index_status", "need_summary",
]  # fmt: skip
SEGMENT_KEYS = [
    "id", "position", "document_id", "content", "sign_content", "answer", "word_count", "tokens",
    "keywords", "index_node_id", "index_node_hash", "hit_count", "enabled", "disabled_at", "disabled_by",
    "status", "created_by", "created_at", "updated_at", "updated_by", "indexing_at", "completed_at",
    "error", "stopped_at", "child_chunks", "attachments", "summary",
]  # fmt: skip
STATUS_KEYS = [
    "id", "indexing_status", "processing_started_at", "parsing_completed_at", "cleaning_completed_at",
    "splitting_completed_at", "completed_at", "paused_at", "error", "stopped_at", "completed_segments",
    "total_segments",
]  # fmt: skip


async def test_text_document_is_indexed_into_segments(make_server: ServerFactory) -> None:
    server = await make_server(**FAST)
    key = await knowledge_key(server)
    async with server.client(key) as client:
        dataset = await make_dataset(client, "Docs")
        assert list(dataset) == DATASET_KEYS
        assert dataset["indexing_technique"] is None
        assert dataset["retrieval_model_dict"]["top_k"] == 2
        text = "\n\n".join(f"Paragraph {i}. " + "word " * 80 for i in range(6))
        created = await client.post(
            f"/datasets/{dataset['id']}/document/create-by-text",
            json={
                "name": "intro",
                "text": text,
                "indexing_technique": "economy",
                "process_rule": {"mode": "automatic"},
            },
        )
        assert created.status_code == 200, created.text
        body = created.json()
        assert list(body) == ["document", "batch"]
        assert list(body["document"]) == DOCUMENT_KEYS
        assert body["document"]["indexing_status"] == "waiting"
        assert body["document"]["display_status"] == "queuing"
        assert len(body["batch"]) == 20 and body["batch"].isdigit()
        upload = body["document"]["data_source_detail_dict"]["upload_file"]
        assert upload["extension"] == "txt" and isinstance(upload["created_at"], float)

        status = await wait_for_batch(client, dataset["id"], body["batch"])
        assert list(status[0]) == STATUS_KEYS
        assert status[0]["indexing_status"] == "completed", status
        assert status[0]["completed_segments"] == status[0]["total_segments"] > 1
        for stamp in (
            "processing_started_at",
            "parsing_completed_at",
            "splitting_completed_at",
            "completed_at",
        ):
            assert isinstance(status[0][stamp], int)

        document_id = body["document"]["id"]
        segments = await client.get(f"/datasets/{dataset['id']}/documents/{document_id}/segments")
        page = segments.json()
        assert list(page) == ["data", "doc_form", "total", "has_more", "limit", "page"]
        assert page["doc_form"] == "text_model"
        assert list(page["data"][0]) == SEGMENT_KEYS
        assert all(len(s["content"]) <= 500 for s in page["data"])
        assert [s["position"] for s in page["data"]] == list(range(1, page["total"] + 1))

        detail = (await client.get(f"/datasets/{dataset['id']}/documents/{document_id}")).json()
        assert detail["display_status"] == "available"
        assert detail["segment_count"] == page["total"]
        assert detail["dataset_process_rule"]["mode"] == "automatic"

        listed = (await client.get("/datasets")).json()
        assert list(listed) == ["data", "has_more", "limit", "total", "page"]
        assert listed["data"][0]["document_count"] == 1
        assert listed["data"][0]["total_available_documents"] == 1
        assert listed["data"][0]["retrieval_model_dict"]["search_method"] == "keyword_search"
