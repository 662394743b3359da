"""The Knowledge API's refusals: keys and scopes, bad ids, bodies and uploads, and each route's
contract errors; pagination of datasets."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.integration.conftest import PLAIN_KEY, ServerFactory
from tests.integration.knowledge_helpers import FAST, knowledge_key, make_dataset, wait_for_batch

pytestmark = pytest.mark.anyio

UNKNOWN = str(uuid.uuid4())
AUTOMATIC = {"mode": "automatic"}


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert list(body) == ["code", "message", "status"], body
    return response.status_code, body["code"], body["message"]


async def test_keys_and_scopes(make_server: ServerFactory) -> None:
    server = await make_server(**FAST)
    key = await knowledge_key(server)
    async with server.client(key) as client:
        first = await make_dataset(client, "First")
        second = await make_dataset(client, "Second")
    scoped = await knowledge_key(server, ["First"])
    async with server.client(None) as anonymous:
        assert error(await anonymous.get("/datasets"))[:2] == (401, "unauthorized")
    async with server.client(PLAIN_KEY) as app_client:
        assert error(await app_client.get("/datasets")) == (401, "unauthorized", "Access token is invalid")
    async with server.client(key) as client:
        # A dataset key is no app key.
        chat = await client.post("/chat-messages", json={"inputs": {}, "query": "hi", "user": "u"})
        assert error(chat) == (401, "unauthorized", "Access token is invalid")
    async with server.client("dataset-notarealkeynotarealkey00") as client:
        assert error(await client.get("/datasets")) == (401, "unauthorized", "Access token is invalid")
    async with server.client(scoped) as client:
        listed = (await client.get("/datasets")).json()
        assert [d["name"] for d in listed["data"]] == ["First"] and listed["total"] == 1
        assert (await client.get(f"/datasets/{first['id']}")).status_code == 200
        assert error(await client.get(f"/datasets/{second['id']}")) == (
            404,
            "not_found",
            "Dataset not found.",
        )
        assert error(await client.delete(f"/datasets/{second['id']}"))[0] == 404
        # A scoped key reaches the datasets it creates.
        third = await make_dataset(client, "Third")
        assert (await client.get(f"/datasets/{third['id']}")).status_code == 200


async def test_dataset_routes(make_server: ServerFactory) -> None:
    server = await make_server(**FAST)
    key = await knowledge_key(server)
    async with server.client(key) as client:
        for name in ("A", "B", "C"):
            await make_dataset(client, name, description=f"about {name}")
        duplicate = await client.post("/datasets", json={"name": "A"})
        assert error(duplicate) == (
            409,
            "dataset_name_duplicate",
            "The dataset name already exists. Please modify your dataset name.",
        )
        assert error(await client.post("/datasets", json={"name": "x" * 41}))[:2] == (400, "invalid_param")
        assert error(await client.post("/datasets", json={"name": "D", "description": "d" * 401}))[0] == 400
        bad_tech = await client.post("/datasets", json={"name": "D", "indexing_technique": "best"})
        assert error(bad_tech)[:2] == (400, "invalid_param")
        malformed = await client.post("/datasets", content=b"{", headers={"Content-Type": "application/json"})
        assert error(malformed)[:2] == (400, "bad_request")
        assert error(await client.post("/datasets", content=b"name=x"))[:2] == (415, "unsupported_media_type")
        assert error(await client.get("/datasets/not-a-uuid")) == (404, "not_found", "Dataset not found.")
        assert error(await client.get(f"/datasets/{UNKNOWN}")) == (404, "not_found", "Dataset not found.")

        first = (await client.get("/datasets", params={"limit": 2})).json()
        assert [d["name"] for d in first["data"]] == ["C", "B"]
        assert (first["has_more"], first["limit"], first["total"], first["page"]) == (True, 2, 3, 1)
        last = (await client.get("/datasets", params={"limit": 2, "page": 2})).json()
        assert [d["name"] for d in last["data"]] == ["A"] and last["has_more"] is False
        exact = (await client.get("/datasets", params={"limit": 3})).json()
        assert exact["has_more"] is False
        assert (await client.get("/datasets", params={"limit": 500})).json()["limit"] == 100
        assert (await client.get("/datasets", params={"keyword": "b"})).json()["total"] == 1
        assert (await client.get("/datasets", params={"tag_ids": UNKNOWN})).json()["total"] == 0

        target = first["data"][0]
        patched = await client.patch(
            f"/datasets/{target['id']}", json={"name": "C2", "permission": "all_team_members"}
        )
        assert patched.status_code == 200, patched.text
        body = patched.json()
        assert list(body)[-1] == "partial_member_list"
        assert (body["name"], body["permission"], body["description"]) == (
            "C2",
            "all_team_members",
            "about C",
        )
        assert error(await client.patch(f"/datasets/{target['id']}", json={"name": "A"}))[0] == 409
        assert "partial_member_list" not in (await client.get(f"/datasets/{target['id']}")).json()

        assert (await client.delete(f"/datasets/{target['id']}")).status_code == 204
        assert error(await client.get(f"/datasets/{target['id']}"))[0] == 404


async def test_document_and_segment_refusals(make_server: ServerFactory) -> None:
    server = await make_server(upload_file_size_limit=4096, **FAST)
    key = await knowledge_key(server)
    async with server.client(key) as client:
        dataset = await make_dataset(client, "Docs")
        base = f"/datasets/{dataset['id']}"
        no_technique = await client.post(
            f"{base}/document/create-by-text", json={"name": "a", "text": "hello"}
        )
        assert error(no_technique) == (400, "invalid_param", "indexing_technique is required.")
        for rule, message in [
            ({"mode": "fast"}, "Process rule mode is invalid"),
            ({"mode": "custom"}, "Process rule rules is required"),
            (
                {"mode": "custom", "rules": {"segmentation": {}}},
                "Process rule pre_processing_rules is required",
            ),
            (
                {"mode": "custom", "rules": {"pre_processing_rules": []}},
                "Process rule segmentation is required",
            ),
            (
                {
                    "mode": "custom",
                    "rules": {"pre_processing_rules": [], "segmentation": {"max_tokens": 100}},
                },
                "Process rule segmentation separator is required",
            ),
            (
                {
                    "mode": "custom",
                    "rules": {"pre_processing_rules": [], "segmentation": {"separator": "\n"}},
                },
                "Process rule segmentation max_tokens is required",
            ),
            (
                {
                    "mode": "custom",
                    "rules": {
                        "pre_processing_rules": [],
                        "segmentation": {"separator": "\n", "max_tokens": 10},
                    },
                },
                "Custom segment length should be between 50 and 4000.",
            ),
        ]:
            response = await client.post(
                f"{base}/document/create-by-text",
                json={"name": "a", "text": "t", "indexing_technique": "economy", "process_rule": rule},
            )
            assert error(response) == (400, "invalid_param", message)
        other_form = await client.post(
            f"{base}/document/create_by_text",
            json={"name": "a", "text": "t", "indexing_technique": "economy", "doc_form": "qa_model"},
        )
        assert error(other_form)[:2] == (400, "invalid_param")

        upload = f"{base}/document/create-by-file"
        assert error(await client.post(upload, data={"data": "{}"})) == (
            400,
            "no_file_uploaded",
            "Please upload your file.",
        )
        two = [("file", ("a.txt", b"a", "text/plain")), ("file", ("b.txt", b"b", "text/plain"))]
        assert error(await client.post(upload, files=two))[:2] == (400, "too_many_files")
        exe = await client.post(upload, files={"file": ("tool.exe", b"MZ", "application/octet-stream")})
        assert error(exe) == (415, "unsupported_file_type", "File type not allowed.")
        raw = (
            b'--b0\r\nContent-Disposition: form-data; name="file"; filename=""\r\n'
            b"Content-Type: text/plain\r\n\r\nx\r\n--b0--\r\n"
        )
        nameless = await client.post(
            upload, content=raw, headers={"Content-Type": "multipart/form-data; boundary=b0"}
        )
        assert error(nameless)[:2] == (400, "filename_not_exists_error")
        large = await client.post(upload, files={"file": ("big.txt", b"x" * 5000, "text/plain")})
        status, code, message = error(large)
        assert (status, code) == (413, "file_too_large") and "4096 bytes" in message
        no_rule = await client.post(
            upload,
            files={"file": ("a.txt", b"hello", "text/plain")},
            data={"data": '{"indexing_technique": "economy"}'},
        )
        assert error(no_rule) == (400, "invalid_param", "process_rule is required.")
        bad_data = await client.post(
            upload, files={"file": ("a.txt", b"x", "text/plain")}, data={"data": "{"}
        )
        assert error(bad_data)[:2] == (400, "invalid_param")

        created = await client.post(
            upload,
            files={"file": ("notes.md", b"# Notes\n\nSome text here.", "text/markdown")},
            data={"data": '{"indexing_technique": "economy", "process_rule": {"mode": "automatic"}}'},
        )
        assert created.status_code == 200, created.text
        document = created.json()["document"]
        assert document["data_source_detail_dict"]["upload_file"]["mime_type"] == "text/markdown"
        segments = f"{base}/documents/{document['id']}/segments"
        early = await client.post(segments, json={"segments": [{"content": "x"}]})
        if early.status_code == 404:  # still queued: the contract's refusal
            assert error(early)[2] == "Document is not completed."
        await wait_for_batch(client, dataset["id"], created.json()["batch"])

        assert (await client.post(segments, json={})).json() == {"error": "Segments is required"}
        blank = await client.post(segments, json={"segments": [{"content": "  "}]})
        assert error(blank) == (400, "invalid_param", "Content is empty")
        assert error(await client.get(f"{segments}/{UNKNOWN}")) == (404, "not_found", "Segment not found.")
        assert error(await client.get(f"{base}/documents/{UNKNOWN}/segments")) == (
            404,
            "not_found",
            "Document not found.",
        )
        assert error(await client.get(f"{base}/documents/{document['id']}", params={"metadata": "some"})) == (
            400,
            "invalid_metadata",
            "Invalid metadata value: some",
        )
        only = (await client.get(f"{base}/documents/{document['id']}", params={"metadata": "only"})).json()
        assert list(only) == ["id", "doc_type", "doc_metadata"]
        without = (
            await client.get(f"{base}/documents/{document['id']}", params={"metadata": "without"})
        ).json()
        assert "doc_type" not in without and "segment_count" in without
        assert error(await client.delete(f"{base}/documents/{UNKNOWN}")) == (
            404,
            "not_found",
            "Document Not Exists.",
        )
        bad_action = await client.patch(f"{base}/documents/status/explode", json={"document_ids": []})
        assert error(bad_action)[:2] == (400, "invalid_action")
        assert error(await client.get(f"{base}/documents/20990101000000000000/indexing-status")) == (
            404,
            "not_found",
            "Documents not found.",
        )
        archived = await client.patch(
            f"{base}/documents/status/archive", json={"document_ids": [document["id"]]}
        )
        assert archived.json() == {"result": "success"}
        assert (await client.get(f"{base}/documents", params={"status": "archived"})).json()["total"] == 1
        assert error(await client.delete(f"{base}/documents/{document['id']}")) == (
            403,
            "archived_document_immutable",
            "The archived document is not editable.",
        )
