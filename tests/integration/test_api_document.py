"""``GET /v1/openapi.json`` on a running server: served without a key, the document the route table
makes, and honest: a walk through most operations (service API, completion, Knowledge API, web
API, pages, signed files, errors) records every request and answer, and each must be what the
document declares for its operation and status (``tests/api_document.py``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from difychat.server.api.openapi import build_document
from difychat.server.api.routes import build_routes
from tests.api_document import Recorder, check
from tests.fakes.upstream import FakeUpstream
from tests.integration.conftest import RunningServer, ServerFactory, apps_file
from tests.integration.every_feature_app import EVERY_FEATURE_KEY, every_feature_app
from tests.integration.helpers import random_id
from tests.integration.knowledge_helpers import FAST, knowledge_key, wait_for_batch

pytestmark = pytest.mark.anyio

WRITER_KEY = "app-documentwriterdocument01"
SITE = "DocumentSite0001"
MCP_CODE = "DocumentMcp00001"
USER = "reader"


@pytest.fixture
async def server(make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream) -> RunningServer:
    data = apps_file(upstream)
    app = every_feature_app(upstream)
    app["site"] = {"code": SITE}
    app["mcp_server"] = {"enabled": True, "code": MCP_CODE}
    model = {"provider": "openai", "name": "fake-model", "base_url": upstream.base_url, "api_key": "sk-test"}
    data["apps"] += [app, {"name": "Writer", "mode": "completion", "api_keys": [WRITER_KEY], "model": model}]
    (tmp_path / "apps.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return await make_server(**FAST)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def client(
    server: RunningServer, recorder: Recorder, key: str | None, root: bool = False
) -> httpx.AsyncClient:
    hooks: dict[str, list[Callable[..., Any]]] = {"response": [recorder]}
    if root:
        headers = {"X-App-Code": SITE}
        return httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30, event_hooks=hooks)
    return server.client(key, event_hooks=hooks)


@pytest.fixture
async def document(server: RunningServer) -> AsyncIterator[dict[str, Any]]:
    async with server.client(None) as bare:
        response = await bare.get("/openapi.json")
        again = await bare.get("/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert again.content == response.content  # built once, then served as it was
    yield response.json()


async def test_the_document_is_served_without_a_key_and_is_the_route_tables(
    server: RunningServer, document: dict[str, Any]
) -> None:
    assert document == json.loads(json.dumps(build_document(build_routes())))
    assert document["openapi"] == "3.1.0"


async def test_real_requests_and_answers_match_the_document(
    server: RunningServer, document: dict[str, Any], recorder: Recorder
) -> None:
    async with client(server, recorder, EVERY_FEATURE_KEY) as api:
        await service_api(api)
    async with client(server, recorder, WRITER_KEY) as writer:
        answer = await writer.post("/completion-messages", json={"inputs": {"query": "Write"}, "user": USER})
        assert answer.status_code == 200, answer.text
        await writer.post(f"/completion-messages/{answer.json()['task_id']}/stop", json={"user": USER})
    async with client(server, recorder, await knowledge_key(server)) as knowledge:
        await knowledge_api(knowledge)
    async with client(server, recorder, None, root=True) as page:
        await web_api(page)
        await outside_v1(page, recorder)
    async with client(server, recorder, None) as bare:
        assert (await bare.get("/parameters")).status_code == 401
        assert (await bare.get("/")).status_code == 200

    found = [problem for exchange in recorder.exchanges for problem in check(document, exchange)]
    assert found == [], "\n".join(found)
    covered = {exchange.operation for exchange in recorder.exchanges}
    statuses = {exchange.status for exchange in recorder.exchanges}
    assert len(covered) >= 70, sorted(covered)
    assert {200, 201, 204, 400, 401, 404} <= statuses


async def service_api(api: httpx.AsyncClient) -> None:
    for path in ("/parameters", "/meta", "/info", "/site"):
        assert (await api.get(path)).status_code == 200, path
    upload = await api.post(
        "/files/upload", files={"file": ("notes.txt", b"notes", "text/plain")}, data={"user": USER}
    )
    assert upload.status_code == 201, upload.text
    file_id = upload.json()["id"]
    attached = [{"type": "document", "transfer_method": "local_file", "upload_file_id": file_id}]
    turn = {"query": "hello", "inputs": {"name": "Ada"}, "user": USER, "files": attached}
    answer = (await api.post("/chat-messages", json=turn)).json()
    conversation_id, message_id = answer["conversation_id"], answer["message_id"]
    preview = await api.get(f"/files/{file_id}/preview", params={"as_attachment": "true"})
    assert preview.status_code == 200 and preview.content == b"notes"
    streamed = await api.post(
        "/chat-messages",
        json={
            "query": "more",
            "inputs": {},
            "user": USER,
            "conversation_id": conversation_id,
            "response_mode": "streaming",
        },
    )
    assert streamed.headers["content-type"].startswith("text/event-stream")
    await api.post(f"/chat-messages/{answer['task_id']}/stop", json={"user": USER})
    await api.get("/conversations", params={"user": USER, "limit": "5", "sort_by": "-updated_at"})
    await api.get("/messages", params={"conversation_id": conversation_id, "user": USER, "limit": "20"})
    await api.post(
        f"/messages/{message_id}/feedbacks", json={"rating": "like", "user": USER, "content": "good"}
    )
    await api.get("/app/feedbacks", params={"page": "1", "limit": "20"})
    await api.get(f"/messages/{message_id}/suggested", params={"user": USER})
    variables = await api.get(f"/conversations/{conversation_id}/variables", params={"user": USER})
    variable = variables.json()["data"][0]
    await api.put(
        f"/conversations/{conversation_id}/variables/{variable['id']}", json={"value": "Grace", "user": USER}
    )
    await api.post(f"/conversations/{conversation_id}/name", json={"name": "Notes", "user": USER})
    await api.get(f"/end-users/{upload.json()['created_by']}")
    speech = await api.post("/text-to-audio", json={"text": "Hello", "user": USER})
    assert speech.headers["content-type"].startswith("audio/mpeg")
    await api.post(
        "/audio-to-text", files={"file": ("clip.mp3", b"\x00" * 100, "audio/mp3")}, data={"user": USER}
    )

    created = await api.post("/apps/annotations", json={"question": "q", "answer": "a"})
    annotation_id = created.json()["id"]
    await api.get("/apps/annotations", params={"page": "1", "limit": "10", "keyword": "q"})
    await api.put(f"/apps/annotations/{annotation_id}", json={"question": "q2", "answer": "a2"})
    reply = {"score_threshold": 0.9, "embedding_provider_name": "openai", "embedding_model_name": "e"}
    job = await api.post("/apps/annotation-reply/enable", json=reply)
    await api.get(f"/apps/annotation-reply/enable/status/{job.json()['job_id']}")
    await api.delete(f"/apps/annotations/{annotation_id}")

    # Failures: the contract's body, whatever the route.
    assert (await api.post("/chat-messages", json={"inputs": {}, "user": USER})).status_code == 400
    assert (
        await api.get(f"/conversations/{random_id()}/variables", params={"user": USER})
    ).status_code == 404
    assert (await api.post("/completion-messages", json={"inputs": {}, "user": USER})).status_code == 400
    assert (
        await api.request("DELETE", f"/conversations/{conversation_id}", json={"user": USER})
    ).status_code == 204


async def knowledge_api(kb: httpx.AsyncClient) -> None:
    dataset = (await kb.post("/datasets", json={"name": "Docs", "indexing_technique": "economy"})).json()
    ds = f"/datasets/{dataset['id']}"
    await kb.get("/datasets", params={"page": "1", "limit": "20", "keyword": "Do"})
    await kb.get(ds)
    await kb.patch(ds, json={"description": "Our docs"})
    text = "\n\n".join(f"Paragraph {i}. How to reset a password, step {i}." for i in range(3))
    body = {
        "name": "intro",
        "text": text,
        "indexing_technique": "economy",
        "process_rule": {"mode": "automatic"},
    }
    created = (await kb.post(f"{ds}/document/create-by-text", json=body)).json()
    await wait_for_batch(kb, dataset["id"], created["batch"])
    document_id = created["document"]["id"]
    doc = f"{ds}/documents/{document_id}"
    await tags_and_metadata(kb, ds, dataset["id"], document_id)
    await kb.post(
        f"{ds}/document/create_by_file", files={"file": ("faq.txt", b"Question? Answer.", "text/plain")}
    )
    await kb.get(f"{ds}/documents", params={"page": "1", "limit": "10", "status": "available"})
    for metadata in ("all", "only", "without"):
        await kb.get(doc, params={"metadata": metadata})
    await kb.post(f"{doc}/update-by-text", json={"name": "intro 2"})
    segments = await kb.get(f"{doc}/segments", params={"page": "1", "limit": "20"})
    segment_id = segments.json()["data"][0]["id"]
    await kb.get(f"{doc}/segments/{segment_id}")
    await kb.post(
        f"{doc}/segments/{segment_id}", json={"segment": {"content": "Reset it from the login page."}}
    )
    await kb.post(
        f"{doc}/segments", json={"segments": [{"content": "Another chunk.", "keywords": ["chunk"]}]}
    )
    assert (await kb.post(f"{doc}/segments", json={})).status_code == 400  # Dify's own body
    await kb.post(f"{ds}/retrieve", json={"query": "reset password"})
    await kb.patch(f"{ds}/documents/status/disable", json={"document_ids": [document_id]})
    await kb.delete(f"{doc}/segments/{segment_id}")
    await kb.delete(doc)
    assert (await kb.get(doc)).status_code == 404
    await kb.delete(ds)


async def tags_and_metadata(kb: httpx.AsyncClient, ds: str, dataset_id: str, document_id: str) -> None:
    tag = (await kb.post("/datasets/tags", json={"name": "guide"})).json()
    await kb.post("/datasets/tags/binding", json={"tag_ids": [tag["id"]], "target_id": dataset_id})
    await kb.get("/datasets/tags")
    await kb.get(f"{ds}/tags")
    await kb.get("/datasets", params={"tag_ids": tag["id"]})
    await kb.patch("/datasets/tags", json={"name": "guides", "tag_id": tag["id"]})
    await kb.post("/datasets/tags/unbinding", json={"tag_id": tag["id"], "target_id": dataset_id})
    assert (await kb.post("/datasets/tags", json={"name": ""})).status_code == 400
    await kb.request("DELETE", "/datasets/tags", json={"tag_id": tag["id"]})
    field = (await kb.post(f"{ds}/metadata", json={"type": "string", "name": "author"})).json()
    await kb.get(f"{ds}/metadata/built-in")
    await kb.post(f"{ds}/metadata/built-in/enable")
    values = [{"id": field["id"], "name": "author", "value": "Ada"}]
    await kb.post(
        f"{ds}/documents/metadata",
        json={"operation_data": [{"document_id": document_id, "metadata_list": values}]},
    )
    await kb.get(f"{ds}/documents/{document_id}")
    await kb.get(ds)
    await kb.get(f"{ds}/metadata")
    await kb.patch(f"{ds}/metadata/{field['id']}", json={"name": "writer"})
    await kb.post(f"{ds}/metadata/built-in/disable")
    assert (await kb.delete(f"{ds}/metadata/{random_id()}")).status_code == 404
    await kb.delete(f"{ds}/metadata/{field['id']}")


async def web_api(page: httpx.AsyncClient) -> None:
    await page.get("/api/system-features")
    await page.get("/api/webapp/access-mode")
    await page.get("/api/passport")
    await page.get("/api/login/status", params={"app_code": SITE})
    for path in ("/api/site", "/api/parameters", "/api/meta"):
        assert (await page.get(path)).status_code == 200, path
    answer = (await page.post("/api/chat-messages", json={"inputs": {}, "query": "hi"})).json()
    conversation = f"/api/conversations/{answer['conversation_id']}"
    await page.post(f"/api/chat-messages/{answer['task_id']}/stop")
    await page.get("/api/conversations", params={"pinned": "false", "limit": "20"})
    await page.patch(conversation + "/pin")
    await page.patch(conversation + "/unpin")
    await page.post(conversation + "/name", json={"auto_generate": True})
    await page.get("/api/messages", params={"conversation_id": answer["conversation_id"]})
    await page.post(f"/api/messages/{answer['message_id']}/feedbacks", json={"rating": "dislike"})
    await page.get(f"/api/messages/{answer['message_id']}/suggested-questions")
    await page.post("/api/files/upload", files={"file": ("a.txt", b"a", "text/plain")})
    await page.post("/api/audio-to-text", files={"file": ("clip.mp3", b"\x00" * 100, "audio/mp3")})
    await page.post("/api/text-to-audio", json={"text": "Hello"})
    await page.delete(conversation)


async def outside_v1(page: httpx.AsyncClient, recorder: Recorder) -> None:
    await page.get("/health")
    await page.get(f"/chat/{SITE}")
    await page.get("/chatbot/NoSuchSite000000")
    await page.get("/embed.js")
    upload = next(e for e in recorder.exchanges if e.operation == "" and e.path == "/v1/files/upload")
    source = httpx.URL(json.loads(upload.response_body)["source_url"])
    await page.get(source.path, params=dict(source.params))
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-03-26"},
    }
    await page.post(
        f"/mcp/server/{MCP_CODE}/mcp",
        json=initialize,
        headers={"Accept": "application/json, text/event-stream"},
    )
