"""Annotations: CRUD scoped to the key's app, annotation reply jobs, and answers given from an annotation."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from tests.integration.conftest import EMBEDDED_KEY, OTHER_APP_KEY, PLAIN_KEY, RunningServer
from tests.integration.helpers import ERROR_KEYS, assert_error, poll, random_id
from tests.sse import parse_frames

pytestmark = pytest.mark.anyio

ITEM_KEYS = ["id", "question", "answer", "hit_count", "created_at"]
REPLY_BODY = {
    "score_threshold": 0.8,
    "embedding_provider_name": "openai",
    "embedding_model_name": "text-embedding-3-small",
}


async def create(client: httpx.AsyncClient, question: str, answer: str, **extra: Any) -> dict[str, Any]:
    response = await client.post("/apps/annotations", json={"question": question, "answer": answer, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def reply_job(client: httpx.AsyncClient, path_action: str, **body: Any) -> dict[str, Any]:
    """Start an enable/disable job and wait until it completes."""
    action = path_action
    response = await client.post(f"/apps/annotation-reply/{action}", json={**REPLY_BODY, **body})
    assert response.status_code == 200, response.text
    job = response.json()
    assert list(job) == ["job_id", "job_status"] and job["job_status"] in ("waiting", "processing")
    status: dict[str, Any] = {}

    async def done() -> bool:
        nonlocal status
        reply = await client.get(f"/apps/annotation-reply/{action}/status/{job['job_id']}")
        assert reply.status_code == 200, reply.text
        status = reply.json()
        return bool(status["job_status"] in ("completed", "error"))

    assert await poll(done)
    assert list(status) == ["job_id", "job_status", "error_msg"]
    return status


async def test_create_returns_201_with_the_item_in_order(server: RunningServer) -> None:
    async with server.client() as client:
        response = await client.post(
            "/apps/annotations", json={"question": "What is difychat?", "answer": "A server."}
        )
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == ITEM_KEYS
    assert (
        body["question"] == "What is difychat?" and body["answer"] == "A server." and body["hit_count"] == 0
    )
    assert isinstance(body["created_at"], int)


async def test_create_tolerates_the_java_starters_extra_keys(server: RunningServer) -> None:
    async with server.client() as client:
        body = await create(client, "q", "a", apiKey=PLAIN_KEY, userId="u1", annotation_id=None)
    assert body["question"] == "q"


@pytest.mark.parametrize(
    "payload",
    [{"question": "q"}, {"answer": "a"}, {"question": 1, "answer": "a"}, {"question": "q", "answer": None}],
)
async def test_create_requires_both_strings(server: RunningServer, payload: dict[str, Any]) -> None:
    async with server.client() as client:
        assert_error(await client.post("/apps/annotations", json=payload), 400, "invalid_param")


async def test_create_needs_a_json_body(server: RunningServer) -> None:
    async with server.client() as client:
        assert_error(
            await client.post("/apps/annotations", content=b"question=q"), 415, "unsupported_media_type"
        )
        bad = await client.post(
            "/apps/annotations", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert_error(bad, 400, "bad_request")


async def test_list_pages_newest_first_with_total_and_has_more(server: RunningServer) -> None:
    async with server.client() as client:
        made = [await create(client, f"question {i}", f"answer {i}") for i in range(5)]
        first = (await client.get("/apps/annotations", params={"limit": 2})).json()
        last = (await client.get("/apps/annotations", params={"limit": 2, "page": 3})).json()
        exact = (await client.get("/apps/annotations", params={"limit": 5})).json()
        everything = (await client.get("/apps/annotations")).json()
    assert list(first) == ["data", "has_more", "limit", "total", "page"]
    newest = [m["id"] for m in reversed(made)]
    assert [d["id"] for d in everything["data"]] == newest
    assert (everything["limit"], everything["page"], everything["total"], everything["has_more"]) == (
        20,
        1,
        5,
        False,
    )
    assert (
        [d["id"] for d in first["data"]] == newest[:2] and first["has_more"] is True and first["total"] == 5
    )
    assert [d["id"] for d in last["data"]] == newest[4:] and last["has_more"] is False and last["page"] == 3
    # Dify's rule: a full page reads as "maybe more", even when it is the last one.
    assert exact["has_more"] is True
    assert all(list(d) == ITEM_KEYS for d in everything["data"])


async def test_list_clamps_limit_and_page_as_dify_does(server: RunningServer) -> None:
    async with server.client() as client:
        for i in range(3):
            await create(client, f"q{i}", f"a{i}")
        huge = (await client.get("/apps/annotations", params={"limit": 500})).json()
        zero = (await client.get("/apps/annotations", params={"limit": 0, "page": -4})).json()
        bad = await client.get("/apps/annotations", params={"limit": "many"})
    # Over 100: queried as 100, echoed as asked, so has_more is never true.
    assert (huge["limit"], len(huge["data"]), huge["has_more"]) == (500, 3, False)
    assert (zero["limit"], zero["page"], len(zero["data"])) == (20, 1, 3)
    assert_error(bad, 400, "invalid_param")


async def test_keyword_matches_question_or_answer_case_insensitively(server: RunningServer) -> None:
    async with server.client() as client:
        a = await create(client, "How do I RESET my password?", "Use the link.")
        b = await create(client, "Opening hours?", "We reset the doors at 9.")
        await create(client, "Shipping?", "Two days.")
        await create(client, "Discount?", "Use 100%_OFF.")
        found = (await client.get("/apps/annotations", params={"keyword": "Reset"})).json()
        literal = (await client.get("/apps/annotations", params={"keyword": "%_"})).json()
    assert {d["id"] for d in found["data"]} == {a["id"], b["id"]} and found["total"] == 2
    assert [d["answer"] for d in literal["data"]] == ["Use 100%_OFF."]


async def test_annotations_belong_to_one_app(server: RunningServer) -> None:
    async with server.client() as mine, server.client(OTHER_APP_KEY) as other:
        item = await create(mine, "q", "a")
        listed = (await other.get("/apps/annotations")).json()
        edit = await other.put(f"/apps/annotations/{item['id']}", json={"question": "x", "answer": "y"})
        delete = await other.delete(f"/apps/annotations/{item['id']}")
        still = (await mine.get("/apps/annotations")).json()
    assert listed["data"] == [] and listed["total"] == 0
    assert_error(edit, 404, "not_found", "Annotation not found")
    assert_error(delete, 404, "not_found", "Annotation not found")
    assert [(d["question"], d["answer"]) for d in still["data"]] == [("q", "a")]


async def test_update_and_delete(server: RunningServer) -> None:
    async with server.client() as client:
        item = await create(client, "old q", "old a")
        updated = await client.put(
            f"/apps/annotations/{item['id']}", json={"question": "new q", "answer": "new a", "apiKey": "x"}
        )
        deleted = await client.delete(f"/apps/annotations/{item['id']}")
        again = await client.delete(f"/apps/annotations/{item['id']}")
        listed = (await client.get("/apps/annotations")).json()
    assert updated.status_code == 200
    body = updated.json()
    assert list(body) == ITEM_KEYS and body["id"] == item["id"]
    assert (body["question"], body["answer"], body["created_at"]) == ("new q", "new a", item["created_at"])
    assert deleted.status_code == 204 and deleted.content == b""
    assert_error(again, 404, "not_found", "Annotation not found")
    assert listed["total"] == 0


async def test_unknown_or_malformed_ids_are_404(server: RunningServer) -> None:
    async with server.client() as client:
        for annotation_id in (random_id(), "not-a-uuid"):
            put = await client.put(
                f"/apps/annotations/{annotation_id}", json={"question": "q", "answer": "a"}
            )
            assert_error(put, 404, "not_found", "Annotation not found")
            assert_error(await client.delete(f"/apps/annotations/{annotation_id}"), 404, "not_found")


async def test_annotation_routes_need_an_app_key(server: RunningServer) -> None:
    async with server.client(None) as client:
        assert_error(await client.get("/apps/annotations"), 401, "unauthorized")
        assert_error(await client.post("/apps/annotation-reply/enable", json=REPLY_BODY), 401, "unauthorized")


async def test_reply_job_body_is_required_for_both_actions(server: RunningServer) -> None:
    async with server.client() as client:
        for action in ("enable", "disable"):
            missing = await client.post(f"/apps/annotation-reply/{action}", json={"score_threshold": 0.9})
            assert_error(missing, 400, "invalid_param")
            wrong = await client.post(
                f"/apps/annotation-reply/{action}", json={**REPLY_BODY, "score_threshold": "hi"}
            )
            assert_error(wrong, 400, "invalid_param")


async def test_unknown_reply_action_is_400(server: RunningServer) -> None:
    async with server.client() as client:
        response = await client.post("/apps/annotation-reply/toggle", json=REPLY_BODY)
    assert_error(response, 400, "invalid_param")


async def test_reply_job_status_and_unknown_jobs(server: RunningServer) -> None:
    async with server.client() as client, server.client(OTHER_APP_KEY) as other:
        status = await reply_job(client, "enable", apiKey=PLAIN_KEY, userId="u1", action="enable")
        job_id = status["job_id"]
        wrong_action = await client.get(f"/apps/annotation-reply/disable/status/{job_id}")
        foreign = await other.get(f"/apps/annotation-reply/enable/status/{job_id}")
        unknown = await client.get(f"/apps/annotation-reply/enable/status/{random_id()}")
        malformed = await client.get("/apps/annotation-reply/enable/status/nope")
    assert status == {"job_id": job_id, "job_status": "completed", "error_msg": ""}
    for response in (wrong_action, foreign, unknown, malformed):
        assert_error(response, 400, "invalid_param", "The job does not exist.")


async def chat(client: httpx.AsyncClient, query: str, mode: str = "blocking") -> httpx.Response:
    body = {"inputs": {}, "query": query, "user": "u1", "response_mode": mode}
    if mode == "blocking":
        return await client.post("/chat-messages", json=body)
    async with client.stream("POST", "/chat-messages", json=body) as response:
        await response.aread()
    return response


async def test_enabled_reply_answers_from_the_annotation_without_the_model(server: RunningServer) -> None:
    async with server.client() as client:
        item = await create(client, "What are your opening hours?", "9 to 5.")
        await reply_job(client, "enable", score_threshold=0.8)
        streamed = await chat(client, "what are your opening hours", mode="streaming")
        blocking = (await chat(client, "What are your opening hours?")).json()
        listed = (await client.get("/apps/annotations")).json()
        history = await client.get(
            "/messages", params={"conversation_id": blocking["conversation_id"], "user": "u1"}
        )
    assert server.upstream.chat_requests(stream=True) == [], "the model is not called"
    frames = parse_frames(streamed.content)
    assert [f.event for f in frames] == ["message"] * len("9 to 5.") + ["message_end"]
    assert [f.data["answer"] for f in frames[:-1] if f.data] == list("9 to 5.")
    end = frames[-1].data
    assert end is not None
    reply = end["metadata"]["annotation_reply"]
    assert list(reply) == ["id", "account"] and reply["id"] == item["id"]
    assert list(reply["account"]) == ["id", "name"] and reply["account"]["id"] and reply["account"]["name"]
    usage = end["metadata"]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (0, 0, 0)
    assert (usage["prompt_price"], usage["completion_price"], usage["total_price"]) == ("0.0", "0.0", "0.0")
    assert blocking["answer"] == "9 to 5." and blocking["metadata"]["annotation_reply"] == reply
    assert listed["data"][0]["hit_count"] == 2
    assert history.json()["data"][0]["answer"] == "9 to 5."


async def test_a_distant_query_goes_to_the_model(server: RunningServer) -> None:
    async with server.client() as client:
        await create(client, "What are your opening hours?", "9 to 5.")
        await reply_job(client, "enable", score_threshold=0.8)
        body = (await chat(client, "Tell me a joke about penguins")).json()
        listed = (await client.get("/apps/annotations")).json()
    assert body["answer"] == "Hello from the fake model." and body["metadata"]["annotation_reply"] is None
    assert listed["data"][0]["hit_count"] == 0


async def test_disabled_reply_never_answers_from_annotations(server: RunningServer) -> None:
    async with server.client() as client:
        await create(client, "hi", "annotated hi")
        before = (await chat(client, "hi")).json()
        await reply_job(client, "enable")
        during = (await chat(client, "hi")).json()
        await reply_job(client, "disable")
        after = (await chat(client, "hi")).json()
    assert before["answer"] == "Hello from the fake model."
    assert during["answer"] == "annotated hi"
    assert after["answer"] == "Hello from the fake model." and after["metadata"]["annotation_reply"] is None


async def test_the_score_threshold_decides(server: RunningServer) -> None:
    async with server.client() as client:
        await create(client, "how do I reset my password", "Use the reset link.")
        await reply_job(client, "enable", score_threshold=1.0)
        strict = (await chat(client, "how can I reset my password")).json()
        await reply_job(client, "enable", score_threshold=0.6)
        loose = (await chat(client, "how can I reset my password")).json()
    assert strict["metadata"]["annotation_reply"] is None
    assert loose["answer"] == "Use the reset link."


async def test_embedding_model_matches_through_the_upstream(server: RunningServer) -> None:
    async with server.client(EMBEDDED_KEY) as client:
        item = await create(client, "refund policy for damaged goods", "Full refund within 30 days.")
        await reply_job(client, "enable", score_threshold=0.85)
        indexed = server.upstream.aux("embeddings")
        hit = (await chat(client, "Damaged goods: refund policy?")).json()
        miss = (await chat(client, "refund")).json()
    assert indexed and indexed[0]["model"] == "fake-embedding" and indexed[0]["input"] == [item["question"]]
    assert indexed[0]["authorization"] == "Bearer sk-test"
    assert hit["metadata"]["annotation_reply"]["id"] == item["id"]
    # The same word set scores 1.0; a single shared word is far below 0.85.
    assert miss["metadata"]["annotation_reply"] is None
    assert len(server.upstream.aux("embeddings")) == 3


async def test_an_annotation_edited_while_it_is_embedded_keeps_no_vector_of_its_old_question(
    server: RunningServer,
) -> None:
    async with server.client(EMBEDDED_KEY) as client:
        item = await create(client, "refund policy for damaged goods", "Full refund within 30 days.")
        server.upstream.behaviour.embedding_delay = 0.5
        body = {**REPLY_BODY, "score_threshold": 0.85}
        started = await client.post("/apps/annotation-reply/enable", json=body)
        assert started.status_code == 200

        async def embedding_asked() -> bool:
            return bool(server.upstream.aux("embeddings"))

        assert await poll(embedding_asked)
        edited = {"question": "shipping times for international orders", "answer": "Two weeks."}
        assert (await client.put(f"/apps/annotations/{item['id']}", json=edited)).status_code == 200
        job_id = started.json()["job_id"]

        async def job_done() -> bool:
            status = await client.get(f"/apps/annotation-reply/enable/status/{job_id}")
            return bool(status.json()["job_status"] == "completed")

        assert await poll(job_done)
        server.upstream.behaviour.embedding_delay = 0.0
        hit = (await chat(client, "International orders: shipping times?")).json()
    # Matched on the edited question: the old question's vector, computed before the edit, was dropped.
    assert hit["metadata"]["annotation_reply"]["id"] == item["id"]
    assert hit["answer"] == "Two weeks."


async def test_jobs_asked_for_at_once_start_one_job(server: RunningServer) -> None:
    async with server.client(EMBEDDED_KEY) as client:
        await create(client, "refund policy for damaged goods", "Full refund within 30 days.")
        # Every job embeds (an enable) and stays unfinished; a disable job, which embeds nothing,
        # could end before the other requests are read, and a later one then rightly starts anew.
        gate = server.upstream.behaviour.embedding_gate = threading.Event()
        body = {**REPLY_BODY, "score_threshold": 0.85}
        try:
            started = await asyncio.gather(
                *(client.post("/apps/annotation-reply/enable", json=body) for _ in range(16))
            )
        finally:
            gate.set()
    assert [r.status_code for r in started] == [200] * 16
    jobs = [r.json() for r in started]
    assert len({j["job_id"] for j in jobs}) == 1, jobs
    assert sorted(j["job_status"] for j in jobs) == ["processing"] * 15 + ["waiting"]


async def test_embedding_failure_falls_back_to_text_similarity(server: RunningServer) -> None:
    async with server.client(EMBEDDED_KEY) as client:
        await create(client, "what time do you open", "At nine.")
        await reply_job(client, "enable", score_threshold=0.9)
        server.upstream.behaviour.aux_status = 500
        body = (await chat(client, "What time do you open?")).json()
    assert body["answer"] == "At nine."


async def test_enable_job_reports_an_embedding_failure(server: RunningServer) -> None:
    server.upstream.behaviour.aux_status = 500
    async with server.client(EMBEDDED_KEY) as client:
        await create(client, "q", "a")
        status = await reply_job(client, "enable")
        body = (await chat(client, "q")).json()
    assert status["job_status"] == "error" and "upstream exploded" in status["error_msg"]
    assert body["metadata"]["annotation_reply"] is None


def test_error_keys_constant_is_the_contracts() -> None:
    assert ERROR_KEYS == ["code", "message", "status"]


async def test_parameters_show_the_annotation_reply_switched_through_the_api(server: RunningServer) -> None:
    async with server.client() as client:
        before = (await client.get("/parameters")).json()["annotation_reply"]
        await reply_job(client, "enable", score_threshold=0.8)
        enabled = (await client.get("/parameters")).json()["annotation_reply"]
        await reply_job(client, "disable")
        disabled = (await client.get("/parameters")).json()["annotation_reply"]
    assert before == {"enabled": False}
    assert list(enabled) == ["id", "enabled", "score_threshold", "embedding_model"]
    assert enabled["enabled"] is True and enabled["score_threshold"] == 0.8
    assert set(enabled["embedding_model"]) == {"embedding_provider_name", "embedding_model_name"}
    assert disabled == {"enabled": False}
