"""Knowledge retrieval over HTTP: ``/retrieve`` and ``/hit-testing`` (every method, shapes, errors),
and chat apps that search datasets (the context in the prompt, citations in ``message_end``, the
blocking answer and ``/messages``).

Documents go in through the Knowledge API and its indexing worker; the embedding and rerank models
are fakes over loopback HTTP.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fakes.rerank import FakeRerank
from tests.fakes.upstream import FakeUpstream, Round, ScriptedCall
from tests.integration.conftest import RunningServer, ServerFactory, apps_file
from tests.integration.knowledge_helpers import FAST, knowledge_key, make_dataset, wait_for_batch

pytestmark = pytest.mark.anyio

CITED_KEY = "app-citedcitedcitedcited0001"
QUIET_KEY = "app-quietquietquietquiet0001"
LIBRARIAN_KEY = "app-librarianlibrarian00001"
MANUAL = [
    "To reset your password, open the account settings page and choose forgot password.",
    "Invoices are sent by email at the start of each month; billing questions go to finance.",
    "The Eiffel Tower is located in Paris, France, and was completed in 1889.",
    "北京是中国的首都，也是政治和文化中心。",
]
RECORD_KEYS = ["segment", "child_chunks", "score", "tsne_position", "files", "summary"]
RECORD_SEGMENT_KEYS = [
    "id", "position", "document_id", "content", "sign_content", "answer", "word_count", "tokens",
    "keywords", "index_node_id", "index_node_hash", "hit_count", "enabled", "disabled_at", "disabled_by",
    "status", "created_by", "created_at", "indexing_at", "completed_at", "error", "stopped_at", "document",
]  # fmt: skip
CITATION_KEYS = [
    "position", "dataset_id", "dataset_name", "document_id", "document_name", "data_source_type",
    "segment_id", "retriever_from", "score", "hit_count", "word_count", "segment_position",
    "index_node_hash", "content", "page", "doc_metadata", "title", "files", "summary",
]  # fmt: skip
HISTORY_CITATION_KEYS = [
    "id", "message_id", "position", "dataset_id", "dataset_name", "document_id", "document_name",
    "data_source_type", "segment_id", "score", "hit_count", "word_count", "segment_position",
    "index_node_hash", "content", "summary", "created_at",
]  # fmt: skip


@pytest.fixture
async def rerank() -> AsyncIterator[FakeRerank]:
    fake = await FakeRerank().start()
    yield fake
    await fake.stop()


def _apps(upstream: FakeUpstream) -> dict[str, Any]:
    base = apps_file(upstream)
    model = {"provider": "openai", "name": "fake-model", "base_url": upstream.base_url, "api_key": "sk-test"}
    configs = {
        "retrieval_model": "multiple",
        "top_k": 2,
        "reranking_enable": False,
        "datasets": {"datasets": [{"dataset": {"enabled": True, "name": "Manual"}}]},
    }
    base["apps"] += [
        {"name": "Cited", "api_keys": [CITED_KEY], "model": model, "pre_prompt": "You are the help desk.",
         "dataset_configs": configs},
        {"name": "Quiet", "api_keys": [QUIET_KEY], "model": model, "dataset_configs": configs,
         "retriever_resource": {"enabled": False}},
        {"name": "Librarian", "mode": "agent-chat", "api_keys": [LIBRARIAN_KEY], "model": model,
         "agent_mode": {"enabled": True, "strategy": "function_call", "tools": []},
         "dataset_configs": configs},
    ]  # fmt: skip
    return base


async def _server(
    make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream, rerank: FakeRerank
) -> RunningServer:
    (tmp_path / "apps.yaml").write_text(yaml.safe_dump(_apps(upstream)))
    return await make_server(
        **FAST,
        embedding_model="fake-embed",
        embedding_base_url=upstream.base_url,
        embedding_api_key="sk-embed",
        rerank_model="fake-rerank",
        rerank_base_url=rerank.base_url,
    )


async def _manual(client: httpx.AsyncClient, technique: str, name: str = "Manual") -> dict[str, Any]:
    dataset = await make_dataset(client, name)
    created = await client.post(
        f"/datasets/{dataset['id']}/document/create-by-text",
        json={
            "name": "manual.md",
            "text": "\n".join(MANUAL),
            "indexing_technique": technique,
            "process_rule": {
                "mode": "custom",
                "rules": {
                    "pre_processing_rules": [],
                    "segmentation": {"separator": "\n", "max_tokens": 200},
                },
            },
        },
    )
    assert created.status_code == 200, created.text
    (status,) = await wait_for_batch(client, dataset["id"], created.json()["batch"])
    assert status["indexing_status"] == "completed", status
    return dataset


def _model(method: str, **values: Any) -> dict[str, Any]:
    return {"search_method": method, "reranking_enable": False, "score_threshold_enabled": False, "top_k": 2,
            **values}  # fmt: skip


async def test_retrieve_finds_the_answer_by_every_method_in_the_contract_shape(
    make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream, rerank: FakeRerank
) -> None:
    server = await _server(make_server, tmp_path, upstream, rerank)
    async with server.client(await knowledge_key(server)) as client:
        dataset = await _manual(client, "high_quality")
        methods = ["semantic_search", "full_text_search", "keyword_search", "hybrid_search"]
        for path in ("retrieve", "hit-testing"):
            for method in methods:
                response = await client.post(
                    f"/datasets/{dataset['id']}/{path}",
                    json={"query": "how do I reset my password", "retrieval_model": _model(method)},
                )
                assert response.status_code == 200, response.text
                body = response.json()
                assert list(body) == ["query", "records"]
                assert body["query"] == {"content": "how do I reset my password"}
                first = body["records"][0]
                assert list(first) == RECORD_KEYS
                assert list(first["segment"]) == RECORD_SEGMENT_KEYS
                assert first["segment"]["content"] == MANUAL[0]
                assert first["segment"]["document"] == {
                    "id": first["segment"]["document_id"],
                    "data_source_type": "upload_file",
                    "name": "manual.md",
                    "doc_type": None,
                    "doc_metadata": None,
                }
                assert 0 < first["score"] <= 1
                assert len(body["records"]) <= 2
        # CJK by keyword; the dataset's own settings when none are sent (semantic, top 4 here)
        cjk = await client.post(
            f"/datasets/{dataset['id']}/retrieve",
            json={"query": "中国的首都", "retrieval_model": _model("full_text_search")},
        )
        assert cjk.json()["records"][0]["segment"]["content"] == MANUAL[3]
        default = await client.post(
            f"/datasets/{dataset['id']}/retrieve", json={"query": "Eiffel Tower Paris"}
        )
        assert default.status_code == 200
        assert default.json()["records"][0]["segment"]["content"] == MANUAL[2]
        # reranked by the rerank endpoint, which sees the candidates' texts
        reranked = await client.post(
            f"/datasets/{dataset['id']}/retrieve",
            json={
                "query": "billing email",
                "retrieval_model": _model(
                    "hybrid_search",
                    reranking_enable=True,
                    reranking_mode="reranking_model",
                    reranking_model={
                        "reranking_provider_name": "jina",
                        "reranking_model_name": "fake-rerank",
                    },
                ),
            },
        )
        assert reranked.status_code == 200, reranked.text
        assert reranked.json()["records"][0]["segment"]["content"] == MANUAL[1]
        assert rerank.requests and rerank.requests[-1]["model"] == "fake-rerank"
        # a threshold no record reaches leaves none
        none = await client.post(
            f"/datasets/{dataset['id']}/retrieve",
            json={
                "query": "password",
                "retrieval_model": _model(
                    "semantic_search", score_threshold_enabled=True, score_threshold=1.01
                ),
            },
        )
        assert none.json()["records"] == []


async def test_an_economy_dataset_is_searched_by_keyword_without_the_embedding_model(
    make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream, rerank: FakeRerank
) -> None:
    server = await _server(make_server, tmp_path, upstream, rerank)
    async with server.client(await knowledge_key(server)) as client:
        dataset = await _manual(client, "economy")
        response = await client.post(
            f"/datasets/{dataset['id']}/retrieve",
            json={"query": "Eiffel Tower", "retrieval_model": _model("semantic_search")},
        )
        assert response.status_code == 200, response.text
        assert response.json()["records"][0]["segment"]["content"] == MANUAL[2]
    assert upstream.aux("embeddings") == []


async def test_retrieve_refuses_bad_requests_as_the_contract_says(
    make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream, rerank: FakeRerank
) -> None:
    server = await _server(make_server, tmp_path, upstream, rerank)
    async with server.client(await knowledge_key(server)) as client:
        fresh = await make_dataset(client, "Empty")
        url = f"/datasets/{fresh['id']}/retrieve"
        waiting = await client.post(url, json={"query": "anything"})
        assert waiting.status_code == 400
        assert waiting.json()["code"] == "dataset_not_initialized"
        assert waiting.json()["message"] == (
            "The dataset is still being initialized or indexing. Please wait a moment."
        )
        for body in ({"query": "x" * 251}, {"query": ""}, {}):
            refused = await client.post(url, json=body)
            assert refused.status_code == 400, body
            assert refused.json()["code"] == "invalid_param"
        for missing in ("reranking_enable", "score_threshold_enabled"):
            model = _model("semantic_search")
            del model[missing]
            refused = await client.post(url, json={"query": "x", "retrieval_model": model})
            assert refused.status_code == 400
            assert refused.json() == {
                "code": "invalid_param",
                "message": f"retrieval_model.{missing} is required",
                "status": 400,
            }
        unknown = await client.post(url, json={"query": "x", "retrieval_model": _model("telepathy_search")})
        assert unknown.status_code == 400 and unknown.json()["code"] == "invalid_param"
        absent = await client.post(
            "/datasets/00000000-0000-4000-8000-000000000000/retrieve", json={"query": "x"}
        )
        assert absent.status_code == 404 and absent.json()["message"] == "Dataset not found."
    async with server.client(None) as anonymous:
        assert (await anonymous.post(url, json={"query": "x"})).status_code == 401


async def test_a_failing_embedding_call_fails_vector_and_hybrid_search_with_the_contracts_error(
    make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream, rerank: FakeRerank
) -> None:
    server = await _server(make_server, tmp_path, upstream, rerank)
    async with server.client(await knowledge_key(server)) as client:
        dataset = await _manual(client, "high_quality")
        upstream.behaviour.aux_status = 500  # the query's embedding call fails from now on
        answers = {}
        for method in ("semantic_search", "hybrid_search", "keyword_search"):
            answers[method] = await client.post(
                f"/datasets/{dataset['id']}/retrieve",
                json={"query": "how do I reset my password", "retrieval_model": _model(method)},
            )
    for method in ("semantic_search", "hybrid_search"):
        body = answers[method].json()
        assert 400 <= answers[method].status_code < 500, (method, body)
        assert list(body) == ["code", "message", "status"] and body["code"] != "internal_server_error"
    assert answers["keyword_search"].status_code == 200  # no embedding asked for


async def test_a_high_quality_dataset_without_an_embedding_model_says_so(
    make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream
) -> None:
    (tmp_path / "apps.yaml").write_text(yaml.safe_dump(_apps(upstream)))
    server = await make_server(**FAST)
    async with server.client(await knowledge_key(server)) as client:
        dataset = await make_dataset(client, "Manual")
        created = await client.post(
            f"/datasets/{dataset['id']}/document/create-by-text",
            json={"name": "m.md", "text": MANUAL[0], "indexing_technique": "high_quality",
                  "process_rule": {"mode": "automatic"}},
        )  # fmt: skip
        (status,) = await wait_for_batch(client, dataset["id"], created.json()["batch"])
        assert status["indexing_status"] == "error"
        assert "No embedding model is configured" in status["error"]


def _events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


async def test_a_chat_app_answers_with_its_datasets_and_cites_them(
    make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream, rerank: FakeRerank
) -> None:
    server = await _server(make_server, tmp_path, upstream, rerank)
    async with server.client(await knowledge_key(server)) as client:
        await _manual(client, "high_quality")
    async with server.client(CITED_KEY) as chat:
        streamed = await chat.post(
            "/chat-messages",
            json={
                "query": "How do I reset my password?",
                "user": "u1",
                "response_mode": "streaming",
                "inputs": {},
            },
        )
        assert streamed.status_code == 200, streamed.text
        end = _events(streamed.text)[-1]
        assert end["event"] == "message_end"
        resources = end["metadata"]["retriever_resources"]
        assert [list(r) for r in resources] == [CITATION_KEYS] * len(resources)
        assert 1 <= len(resources) <= 2
        first = resources[0]
        assert first["position"] == 1 and first["retriever_from"] == "api"
        assert first["content"] == MANUAL[0]
        assert first["dataset_name"] == "Manual" and first["document_name"] == "manual.md"
        assert first["hit_count"] is None and first["page"] is None
        # the passages reached the model inside the context block, before the app's prompt
        system = upstream.chat_requests(stream=True)[-1].body["messages"][0]
        assert system["role"] == "system"
        assert f"<context>\n{MANUAL[0]}" in system["content"]
        assert system["content"].endswith("You are the help desk.")

        blocking = await chat.post(
            "/chat-messages",
            json={"query": "Where is the Eiffel Tower?", "user": "u1", "response_mode": "blocking",
                  "inputs": {}, "conversation_id": end["conversation_id"]},
        )  # fmt: skip
        assert blocking.status_code == 200, blocking.text
        cited = blocking.json()["metadata"]["retriever_resources"]
        assert cited[0]["content"] == MANUAL[2] and list(cited[0]) == CITATION_KEYS

        history = await chat.get(
            "/messages", params={"conversation_id": end["conversation_id"], "user": "u1"}
        )
        items = history.json()["data"]
        assert [list(c) for c in items[0]["retriever_resources"]] == [HISTORY_CITATION_KEYS] * len(
            items[0]["retriever_resources"]
        )
        stored = items[0]["retriever_resources"][0]
        assert stored["message_id"] == end["message_id"] and stored["content"] == MANUAL[0]
        again = await chat.get("/messages", params={"conversation_id": end["conversation_id"], "user": "u1"})
        assert again.json()["data"][0]["retriever_resources"] == items[0]["retriever_resources"]  # stable ids


async def test_citations_are_stored_even_when_the_app_does_not_show_them(
    make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream, rerank: FakeRerank
) -> None:
    server = await _server(make_server, tmp_path, upstream, rerank)
    async with server.client(await knowledge_key(server)) as client:
        await _manual(client, "economy")
    async with server.client(QUIET_KEY) as chat:
        answer = await chat.post(
            "/chat-messages",
            json={"query": "invoices email", "user": "u2", "response_mode": "blocking", "inputs": {}},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["metadata"]["retriever_resources"] == []
        history = await chat.get(
            "/messages", params={"conversation_id": answer.json()["conversation_id"], "user": "u2"}
        )
        (item,) = history.json()["data"]
        assert item["retriever_resources"][0]["content"] == MANUAL[1]
        assert item["retriever_resources"][0]["id"]


async def test_an_agent_searches_its_datasets_as_tools_and_cites_them(
    make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream, rerank: FakeRerank
) -> None:
    server = await _server(make_server, tmp_path, upstream, rerank)
    async with server.client(await knowledge_key(server)) as client:
        dataset = await _manual(client, "economy")
    tool = "dataset_" + dataset["id"].replace("-", "_")
    upstream.behaviour.rounds = [
        Round(calls=[ScriptedCall(tool, '{"query": "reset password"}')]),
        Round(calls=[ScriptedCall(tool, '{"query": "password settings page"}')]),
        Round(chunks=["Open the settings page."]),
    ]
    async with server.client(LIBRARIAN_KEY) as chat:
        streamed = await chat.post(
            "/chat-messages",
            json={"query": "I forgot my password", "user": "u3", "response_mode": "streaming", "inputs": {}},
        )
        assert streamed.status_code == 200, streamed.text
        events = _events(streamed.text)
        offered = upstream.chat_requests(stream=True)[0].body["tools"]  # not the title call
        (function,) = [t["function"] for t in offered if t["function"]["name"] == tool]
        assert function["description"] == "useful for when you want to answer queries about the Manual"
        assert function["parameters"]["required"] == ["query"]
        observed = [e for e in events if e["event"] == "agent_thought" and e["observation"]]
        assert MANUAL[0] in json.loads(observed[0]["observation"])[tool]
        end = events[-1]
        assert end["event"] == "message_end"
        resources = end["metadata"]["retriever_resources"]
        # the second call found the same document again: cited once
        assert [r["position"] for r in resources] == list(range(1, len(resources) + 1))
        assert {r["document_name"] for r in resources} == {"manual.md"}
        assert resources[0]["content"] == MANUAL[0] and list(resources[0]) == CITATION_KEYS
        history = await chat.get(
            "/messages", params={"conversation_id": end["conversation_id"], "user": "u3"}
        )
        (item,) = history.json()["data"]
        assert [c["segment_id"] for c in item["retriever_resources"]] == [r["segment_id"] for r in resources]
