"""The Knowledge API of ``difychat serve``, driven with raw HTTP shaped like Dify's published
examples, with a key made by ``difychat keys create --knowledge``."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from tests.e2e.conftest import ServerProcess, run_cli

FILE_DATA = {
    "indexing_technique": "economy",
    "process_rule": {
        "rules": {
            "pre_processing_rules": [
                {"id": "remove_extra_spaces", "enabled": True},
                {"id": "remove_urls_emails", "enabled": True},
            ],
            "segmentation": {"separator": "###", "max_tokens": 500},
        },
        "mode": "custom",
    },
}


def wait_indexed(client: httpx.Client, dataset_id: str, batch: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        item: dict[str, Any] = client.get(f"/datasets/{dataset_id}/documents/{batch}/indexing-status").json()[
            "data"
        ][0]
        if item["indexing_status"] in ("completed", "error") or time.monotonic() > deadline:
            return item
        time.sleep(0.1)


def test_knowledge_api_over_raw_http(served: ServerProcess) -> None:
    made = run_cli("keys", "create", "--knowledge", *served.cli_args(), env=served.env())
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    with served.client(key) as client:
        created = client.post(
            "/datasets", json={"name": f"e2e {time.monotonic_ns()}", "permission": "only_me"}
        )
        assert created.status_code == 200, created.text
        dataset_id = created.json()["id"]

        by_text = client.post(
            f"/datasets/{dataset_id}/document/create_by_text",
            json={
                "name": "text",
                "text": "Dify is an LLM app platform.\n\nIt has a knowledge base.",
                "indexing_technique": "economy",
                "process_rule": {"mode": "automatic"},
            },
        )
        assert by_text.status_code == 200, by_text.text
        assert wait_indexed(client, dataset_id, by_text.json()["batch"])["indexing_status"] == "completed"

        by_file = client.post(
            f"/datasets/{dataset_id}/document/create_by_file",
            data={"data": json.dumps(FILE_DATA)},
            files={"file": ("faq.txt", b"Question one?###Answer https://example.com one.###Question two?")},
        )
        assert by_file.status_code == 200, by_file.text
        document_id = by_file.json()["document"]["id"]
        status = wait_indexed(client, dataset_id, by_file.json()["batch"])
        assert (status["indexing_status"], status["total_segments"]) == ("completed", 3)

        listed = client.get("/datasets", params={"page": 1, "limit": 20}).json()
        assert dataset_id in [d["id"] for d in listed["data"]]
        documents = client.get(f"/datasets/{dataset_id}/documents").json()
        assert documents["total"] == 2

        segments_url = f"/datasets/{dataset_id}/documents/{document_id}/segments"
        segments = client.get(segments_url).json()
        assert [s["content"] for s in segments["data"]] == ["Question one?", "Answer one.", "Question two?"]
        added = client.post(
            segments_url, json={"segments": [{"content": "1", "answer": "1", "keywords": ["a"]}]}
        )
        assert added.status_code == 200, added.text
        segment_id = added.json()["data"][0]["id"]
        updated = client.post(
            f"{segments_url}/{segment_id}",
            json={"segment": {"content": "1", "answer": "1", "keywords": ["a"], "enabled": False}},
        )
        assert updated.json()["data"]["enabled"] is False
        assert client.delete(f"{segments_url}/{segment_id}").status_code == 204
        assert client.delete(f"/datasets/{dataset_id}/documents/{document_id}").status_code == 204
        assert client.delete(f"/datasets/{dataset_id}").status_code == 204
        assert client.get(f"/datasets/{dataset_id}").status_code == 404
