"""GET /metrics, X-Request-Id and request-scoped log lines, on the server in-process.

The metrics do not depend on the store, so these run on SQLite only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from difychat.server.app import create_app
from difychat.server.observability.logs import JsonFormatter
from difychat.server.settings import Settings
from tests.fakes.upstream import FakeUpstream
from tests.integration.conftest import DOWN_KEY, PLAIN_KEY, SUPPORT_KEY, RunningServer, ServerFactory
from tests.prometheus import Scrape
from tests.sse import parse_frames

pytestmark = pytest.mark.anyio
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SUPPORT_INPUTS = {"name": "Ada", "company": "Acme"}
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def chat_body(mode: str = "blocking", **extra: Any) -> dict[str, Any]:
    return {"inputs": {}, "query": "hi", "user": "u1", "response_mode": mode, **extra}


async def scrape(server: RunningServer, **headers: str) -> Scrape:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


async def scrape_when(server: RunningServer, ready: Callable[[Scrape], bool], timeout: float = 5.0) -> Scrape:
    """A turn is recorded as its task ends, just after its response: wait for it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await scrape(server)
        if ready(found) or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.02)


def message_end(raw: bytes) -> dict[str, Any]:
    ends = [f.data for f in parse_frames(raw) if f.data is not None and f.data["event"] == "message_end"]
    assert len(ends) == 1
    return ends[0]


@SQLITE_ONLY
async def test_blocking_and_streaming_turns_move_their_metrics(
    server: RunningServer, upstream: FakeUpstream
) -> None:
    upstream.behaviour.gap = 0.05
    async with server.client(SUPPORT_KEY) as client:
        blocking = await client.post("/chat-messages", json=chat_body(inputs=SUPPORT_INPUTS))
        assert blocking.status_code == 200
        body = chat_body("streaming", inputs=SUPPORT_INPUTS)
        async with client.stream("POST", "/chat-messages", json=body) as response:
            chunks = response.aiter_bytes()
            raw = await anext(chunks)
            # While the answer streams, it is an open stream and a turn in progress.
            during = await scrape(server)
            raw += b"".join([chunk async for chunk in chunks])
    assert during.value("difychat_active_streams") == 1
    assert during.value("difychat_chat_turns_in_progress", mode="streaming") == 1

    usages = [blocking.json()["metadata"]["usage"], message_end(raw)["metadata"]["usage"]]
    app = "Support Bot"
    after = await scrape_when(server, lambda s: s.total("difychat_chat_turns_total", app=app) == 2)
    for mode in ("blocking", "streaming"):
        assert after.value("difychat_chat_turns_total", app=app, mode=mode, status="normal") == 1
        assert after.value("difychat_chat_time_to_first_token_seconds_count", app=app, mode=mode) == 1
        assert after.value("difychat_chat_turn_duration_seconds_count", app=app, mode=mode) == 1
        assert after.value("difychat_chat_turns_in_progress", mode=mode) == 0
    first_tokens = sum(u["time_to_first_token"] for u in usages)
    assert after.total("difychat_chat_time_to_first_token_seconds_sum", app=app) == pytest.approx(
        first_tokens, abs=1e-5
    )
    prompt = sum(u["prompt_tokens"] for u in usages)
    completion = sum(u["completion_tokens"] for u in usages)
    assert prompt > 0 and completion > 0
    assert after.value("difychat_chat_tokens_total", app=app, kind="prompt") == prompt
    assert after.value("difychat_chat_tokens_total", app=app, kind="completion") == completion
    cost = sum(float(u["total_price"]) for u in usages)
    assert cost > 0
    assert after.value("difychat_chat_cost_total", app=app, currency="USD") == pytest.approx(cost, abs=1e-6)

    chat = {"method": "POST", "route": "/v1/chat-messages"}
    assert after.value("difychat_http_requests_total", **chat, status="200") == 2
    assert after.value("difychat_http_request_duration_seconds_count", **chat) == 2
    assert after.value("difychat_active_streams") == 0
    # Sampled queue depths are exposed, and empty once the turns are saved.
    assert after.value("difychat_pending_writes") == 0
    assert "difychat_background_jobs" in after.text


@SQLITE_ONLY
async def test_a_failing_upstream_counts_errors_by_code_and_logs_them_with_the_request(
    server: RunningServer, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.setFormatter(JsonFormatter())
    caplog.set_level(logging.WARNING, logger="difychat")
    async with server.client(DOWN_KEY) as client:
        blocking = await client.post("/chat-messages", json=chat_body())
        streaming = await client.post("/chat-messages", json=chat_body("streaming"))
    upstream.behaviour.status = 404
    async with server.client(PLAIN_KEY) as client:
        missing_model = await client.post("/chat-messages", json=chat_body())
    # A started stream answers 200; its model's failure is its error event.
    assert [r.status_code for r in (blocking, streaming, missing_model)] == [400, 200, 400]
    assert streaming.text.startswith('data: {"event":"error"')
    assert missing_model.json()["code"] == "model_currently_not_support"

    found = await scrape_when(server, lambda s: s.total("difychat_upstream_errors_total") == 3)
    assert found.value("difychat_upstream_errors_total", code="completion_request_error") == 2
    assert found.value("difychat_upstream_errors_total", code="model_currently_not_support") == 1
    assert found.value("difychat_chat_turns_total", app="Down", mode="blocking", status="error") == 1
    assert found.value("difychat_chat_turns_total", app="Down", mode="streaming", status="error") == 1
    assert found.value("difychat_chat_turns_total", app="Plain", mode="blocking", status="error") == 1
    assert (
        found.value("difychat_http_requests_total", method="POST", route="/v1/chat-messages", status="400")
        == 2
    )

    # Each failure's log line is one JSON object naming the request it belongs to.
    lines = [json.loads(line) for line in caplog.text.splitlines() if line.startswith("{")]
    failures = [line for line in lines if "the model provider failed" in line["message"]]
    assert len(failures) == 3
    ids = {r.headers["x-request-id"] for r in (blocking, streaming, missing_model)}
    assert {line["request_id"] for line in failures} == ids
    for line in failures:
        assert line["level"] == "WARNING" and line["logger"] == "difychat.turns"
        assert line["app_id"] and line["task_id"] and line["time"].endswith("Z")
    assert not any("Bearer" in line["message"] or DOWN_KEY in line["message"] for line in lines)


@SQLITE_ONLY
async def test_route_labels_are_templates_without_ids(server: RunningServer) -> None:
    conversation_id = "5c3fbd1f-7f0e-4c56-9a1e-7b1a3f6d9e21"
    async with server.client() as client:
        assert (await client.get("/parameters")).status_code == 200
        gone = await client.delete(f"/conversations/{conversation_id}", params={"user": "u1"})
        assert gone.status_code == 404
        assert (await client.get(f"/no-such-route/{conversation_id}")).status_code == 404
        assert (await client.patch("/parameters")).status_code == 405
    found = await scrape(server)
    assert (
        found.value("difychat_http_requests_total", method="GET", route="/v1/parameters", status="200") == 1
    )
    assert (
        found.value(
            "difychat_http_requests_total",
            method="DELETE",
            route="/v1/conversations/{conversation_id}",
            status="404",
        )
        == 1
    )
    assert found.value("difychat_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert (
        found.value("difychat_http_requests_total", method="PATCH", route="/v1/parameters", status="405") == 1
    )
    assert conversation_id not in found.text


@SQLITE_ONLY
async def test_every_response_carries_a_request_id(server: RunningServer) -> None:
    given = "req-42.abc:DEF_9"
    async with server.client() as client:
        success = await client.get("/parameters")
        echoed = await client.get("/parameters", headers={"X-Request-Id": given})
        unknown = await client.get("/no-such-route", headers={"X-Request-Id": given})
        async with client.stream("POST", "/chat-messages", json=chat_body("streaming")) as stream:
            await stream.aread()
        async with client.stream(
            "POST", "/chat-messages", json=chat_body("streaming"), headers={"X-Request-Id": given}
        ) as echoed_stream:
            await echoed_stream.aread()
        invalid = await client.post("/chat-messages", json={"query": "hi"})
    async with server.client(key=None) as anonymous:
        unauthorized = await anonymous.get("/parameters")
    assert (success.status_code, unauthorized.status_code, unknown.status_code) == (200, 401, 404)
    assert invalid.status_code == 400
    assert stream.headers["content-type"].startswith("text/event-stream")
    for response in (success, stream, invalid, unauthorized):
        assert GENERATED_ID.fullmatch(response.headers["x-request-id"]), response.headers
    for response in (echoed, unknown, echoed_stream):
        assert response.headers["x-request-id"] == given
    # Ids differ per request.
    assert len({r.headers["x-request-id"] for r in (success, stream, invalid, unauthorized)}) == 4


@SQLITE_ONLY
@pytest.mark.parametrize(
    "malformed",
    [b"has space", b"x" * 129, b'quote"d', b"semi;colon", b"\xc3\xbcml", b"-leading-dash", b""],
)
async def test_a_malformed_request_id_is_replaced(server: RunningServer, malformed: bytes) -> None:
    async with server.client() as client:
        response = await client.get("/parameters", headers={b"X-Request-Id": malformed})
    assert response.status_code == 200
    assert GENERATED_ID.fullmatch(response.headers["x-request-id"])


@SQLITE_ONLY
async def test_the_longest_sane_request_id_is_kept(server: RunningServer) -> None:
    given = "a" * 128
    async with server.client() as client:
        response = await client.get("/parameters", headers={"X-Request-Id": given})
    assert response.headers["x-request-id"] == given


@SQLITE_ONLY
async def test_a_metrics_token_guards_the_scrape(make_server: ServerFactory) -> None:
    server = await make_server(metrics_token="scrape-secret")
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        missing = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer not-it"})
        right = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    for refused in (missing, wrong):
        assert refused.status_code == 401
        assert refused.json()["code"] == "unauthorized"
        assert "scrape-secret" not in refused.text
        assert GENERATED_ID.fullmatch(refused.headers["x-request-id"])
    assert right.status_code == 200
    assert "difychat_http_requests_total" in right.text


@SQLITE_ONLY
async def test_metrics_can_be_switched_off(make_server: ServerFactory) -> None:
    server = await make_server(metrics_enabled=False)
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        response = await client.get("/metrics")
        health = await client.get("/health")
    assert response.status_code == 404
    assert GENERATED_ID.fullmatch(response.headers["x-request-id"])
    assert health.status_code == 200 and "x-request-id" in health.headers


async def test_an_unhandled_error_answers_500_with_a_request_id_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.setFormatter(JsonFormatter())
    app = create_app(Settings(data_dir=tmp_path / "data"))

    async def broken(request: Request) -> Response:
        raise RuntimeError("a bug")

    app.add_route("/broken", broken)
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://difychat") as client:
        response = await client.get("/broken", headers={"X-Request-Id": "trace-500"})
        metrics = await client.get("/metrics")
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "trace-500"
    assert response.json()["status"] == 500
    found = Scrape(metrics.text)
    assert found.value("difychat_http_requests_total", method="GET", route="/broken", status="500") == 1
    lines = [json.loads(line) for line in caplog.text.splitlines() if line.startswith("{")]
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert errors and errors[0]["request_id"] == "trace-500"
    assert "RuntimeError: a bug" in errors[0]["exception"]
