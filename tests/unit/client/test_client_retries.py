"""Retries: only idempotent calls, with backoff and Retry-After; never a chat message."""

from __future__ import annotations

import email.utils
from typing import Any

import httpx
import pytest

from difychat import (
    APIConnectionError,
    AsyncDifyChat,
    DifyChat,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
)
from difychat._retry import parse_retry_after
from tests.unit.client.client_fakes import FakeServer, error_body, event, sse_response

INFO: dict[str, Any] = {"name": "My App", "description": "", "tags": [], "mode": "chat", "author_name": None}


def unavailable() -> httpx.Response:
    return error_body(503, "internal_server_error", "busy")


def test_get_is_retried_after_5xx_with_exponential_backoff(
    client: DifyChat, server: FakeServer, sleeps: list[float]
) -> None:
    server.add(unavailable(), unavailable(), httpx.Response(200, json=INFO))
    assert client.info().name == "My App"
    assert len(server.requests) == 3
    assert sleeps == [0.5, 1.0]


def test_retries_stop_after_max_retries(client: DifyChat, server: FakeServer, sleeps: list[float]) -> None:
    server.default = unavailable()
    with pytest.raises(InternalServerError):
        client.with_options(max_retries=3).info()
    assert len(server.requests) == 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_backoff_is_capped(server: FakeServer, sleeps: list[float], client: DifyChat) -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=3.0, jitter=0.0, sleep=sleeps.append)
    server.default = unavailable()
    with pytest.raises(InternalServerError):
        client.with_options(max_retries=4, retry_policy=policy).info()
    assert sleeps == [1.0, 2.0, 3.0, 3.0]


def test_zero_max_retries_sends_once(client: DifyChat, server: FakeServer, sleeps: list[float]) -> None:
    server.default = unavailable()
    with pytest.raises(InternalServerError):
        client.with_options(max_retries=0).parameters()
    assert len(server.requests) == 1
    assert sleeps == []


def test_429_retry_after_seconds_is_honoured(
    client: DifyChat, server: FakeServer, sleeps: list[float]
) -> None:
    limited = httpx.Response(
        429, headers={"Retry-After": "3"}, json={"code": "too_many_requests", "message": "slow"}
    )
    server.add(limited, httpx.Response(200, json=INFO))
    client.info()
    assert sleeps == [3.0]


def test_retry_after_http_date_is_honoured() -> None:
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 7, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(7.0)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-4"])
def test_unusable_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_retry_after_beyond_the_cap_falls_back_to_backoff(
    client: DifyChat, server: FakeServer, sleeps: list[float]
) -> None:
    limited = httpx.Response(
        429, headers={"Retry-After": "3600"}, json={"code": "too_many_requests", "message": ""}
    )
    server.add(limited, httpx.Response(200, json=INFO))
    client.info()
    assert sleeps == [0.5]


def test_jitter_shortens_the_delay_within_bounds() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=8.0, jitter=0.5)
    delays = [policy.backoff(2) for _ in range(200)]
    assert all(2.0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 1


def test_connection_errors_on_get_are_retried(
    client: DifyChat, server: FakeServer, sleeps: list[float]
) -> None:
    server.add(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(200, json=INFO))
    assert client.info().name == "My App"
    assert len(server.requests) == 3


def test_client_errors_are_not_retried(client: DifyChat, server: FakeServer, sleeps: list[float]) -> None:
    server.add(error_body(404, "not_found", "Conversation Not Exists."))
    with pytest.raises(NotFoundError):
        client.messages("c1")
    assert len(server.requests) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "failure",
    [
        unavailable(),
        httpx.Response(429, json={"code": "too_many_requests", "message": "x"}),
        httpx.ConnectError("x"),
    ],
)
def test_a_chat_message_is_never_resent(
    client: DifyChat, server: FakeServer, sleeps: list[float], failure: httpx.Response | Exception
) -> None:
    server.add(failure)
    server.default = httpx.Response(200, json={"answer": "second answer"})
    with pytest.raises((InternalServerError, RateLimitError, APIConnectionError)):
        client.send_message("hello")
    assert len(server.requests) == 1
    assert sleeps == []


def test_a_streamed_chat_message_is_never_resent(client: DifyChat, server: FakeServer) -> None:
    server.add(unavailable())
    server.default = sse_response(event({"event": "message_end"}))[0]
    with pytest.raises(InternalServerError):
        client.stream_message("hello")
    assert len(server.requests) == 1


def test_stop_is_safe_to_repeat_and_is_retried(client: DifyChat, server: FakeServer) -> None:
    server.add(httpx.ConnectError("reset"), httpx.Response(200, json={"result": "success"}))
    client.stop_stream("task-1")
    assert [r.url.path for r in server.requests] == ["/v1/chat-messages/task-1/stop"] * 2


def test_setting_a_rating_is_retried_but_revoking_is_not(client: DifyChat, server: FakeServer) -> None:
    server.add(unavailable(), httpx.Response(200, json={"result": "success"}))
    client.message_feedback("m1", "like")
    assert len(server.requests) == 2

    server.requests.clear()
    server.add(unavailable())
    with pytest.raises(InternalServerError):
        client.message_feedback("m1", None)
    assert len(server.requests) == 1


def test_uploads_and_deletes_are_not_retried(client: DifyChat, server: FakeServer) -> None:
    server.default = unavailable()
    with pytest.raises(InternalServerError):
        client.upload_file(b"data", filename="a.txt")
    with pytest.raises(InternalServerError):
        client.delete_conversation("c1")
    with pytest.raises(InternalServerError):
        client.create_annotation("q", "a")
    assert len(server.requests) == 3


def test_each_retry_is_a_fresh_identical_request(client: DifyChat, server: FakeServer) -> None:
    server.add(unavailable(), httpx.Response(200, json={"limit": 5, "has_more": False, "data": []}))
    client.conversations(limit=5)
    first, second = server.requests
    assert first is not second
    assert first.url == second.url
    assert first.headers["authorization"] == second.headers["authorization"]


@pytest.mark.anyio
async def test_async_get_is_retried_with_the_async_sleep(
    async_client: AsyncDifyChat, server: FakeServer, sleeps: list[float]
) -> None:
    server.add(httpx.ConnectError("refused"), unavailable(), httpx.Response(200, json=INFO))
    info = await async_client.info()
    assert info.name == "My App"
    assert sleeps == [0.5, 1.0]


@pytest.mark.anyio
async def test_async_chat_message_is_never_resent(
    async_client: AsyncDifyChat, server: FakeServer, sleeps: list[float]
) -> None:
    server.add(unavailable())
    with pytest.raises(InternalServerError):
        await async_client.send_message("hello")
    assert len(server.requests) == 1
    assert sleeps == []
