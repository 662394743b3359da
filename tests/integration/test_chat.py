"""POST /chat-messages: the generation itself, blocking and streaming."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import yaml

from difychat.server.providers.lines import MAX_LINE_BYTES
from tests.conftest import missing_service
from tests.integration.conftest import (
    AGENT_KEY,
    DOWN_KEY,
    LIMITED_KEY,
    PLAIN_KEY,
    SUPPORT_KEY,
    RunningServer,
    ServerFactory,
    apps_file,
)
from tests.sse import parse_frames

pytestmark = pytest.mark.anyio

# An `error` event's keys, in order (no task_id, no id).
ERROR_EVENT_KEYS = ["event", "conversation_id", "message_id", "created_at", "code", "status", "message"]

REDIS_URL = "redis://127.0.0.1:6379/0"
SUPPORT_INPUTS = {"name": "Ada", "company": "Acme"}
USAGE_KEYS = [
    "prompt_tokens",
    "prompt_unit_price",
    "prompt_price_unit",
    "prompt_price",
    "completion_tokens",
    "completion_unit_price",
    "completion_price_unit",
    "completion_price",
    "total_tokens",
    "total_price",
    "currency",
    "latency",
    "time_to_first_token",
    "time_to_generate",
]


def chat_body(query: str = "hi", user: str = "u1", mode: str = "blocking", **extra: Any) -> dict[str, Any]:
    return {"inputs": {}, "query": query, "user": user, "response_mode": mode, **extra}


async def stream_frames(client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[httpx.Response, list[Any]]:
    async with client.stream("POST", "/chat-messages", json=body) as response:
        raw = await response.aread()
    return response, parse_frames(raw) if response.status_code == 200 else []


async def test_blocking_response_has_the_contract_keys_in_order(server: RunningServer) -> None:
    async with server.client(SUPPORT_KEY) as client:
        response = await client.post("/chat-messages", json=chat_body(inputs=SUPPORT_INPUTS))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == [
        "event",
        "task_id",
        "id",
        "message_id",
        "conversation_id",
        "mode",
        "answer",
        "metadata",
        "created_at",
    ]
    assert body["event"] == "message" and body["mode"] == "chat"
    assert body["id"] == body["message_id"]
    assert body["answer"] == "Hello from the fake model."
    assert isinstance(body["created_at"], int)
    assert list(body["metadata"]) == ["annotation_reply", "retriever_resources", "usage"]
    usage = body["metadata"]["usage"]
    assert list(usage) == USAGE_KEYS
    # The fake reports 11 prompt and 5 completion tokens; prices are per million tokens.
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (11, 5, 16)
    assert usage["prompt_unit_price"] == "0.15" and usage["prompt_price_unit"] == "0.000001"
    assert usage["prompt_price"] == "0.0000017"
    assert usage["completion_price"] == "0.0000030"
    assert usage["total_price"] == "0.0000047"
    assert usage["currency"] == "USD"
    assert isinstance(usage["latency"], float) and usage["time_to_first_token"] is not None


async def test_omitted_response_mode_means_blocking(server: RunningServer) -> None:
    async with server.client() as client:
        response = await client.post("/chat-messages", json={"inputs": {}, "query": "hi", "user": "u1"})
    assert response.status_code == 200 and response.json()["event"] == "message"


async def test_streaming_frames_every_delta_then_message_end(server: RunningServer) -> None:
    async with server.client() as client:
        response, frames = await stream_frames(client, chat_body("héllo 你好", mode="streaming"))
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    events = [f.event for f in frames]
    assert events == ["message"] * 5 + ["message_end"]
    first = frames[0].data
    assert first is not None
    assert list(first) == [
        "event",
        "conversation_id",
        "message_id",
        "created_at",
        "task_id",
        "id",
        "answer",
        "from_variable_selector",
    ]
    ids = {
        (f.data["conversation_id"], f.data["message_id"], f.data["created_at"], f.data["task_id"])
        for f in frames
        if f.data
    }
    assert len(ids) == 1, "every event carries the same ids"
    assert "".join(f.data["answer"] for f in frames[:-1] if f.data) == "Hello from the fake model."
    end = frames[-1].data
    assert end is not None
    assert list(end) == [
        "event",
        "conversation_id",
        "message_id",
        "created_at",
        "task_id",
        "id",
        "metadata",
        "files",
    ]
    assert end["files"] is None and end["id"] == end["message_id"]
    assert list(end["metadata"]["usage"]) == USAGE_KEYS
    assert end["metadata"]["usage"]["prompt_price"] == "0.0"  # the Plain app has no pricing


async def test_streaming_json_is_raw_utf8(server: RunningServer) -> None:
    server.upstream.behaviour.chunks = ["你好", " / ", "wörld"]
    async with (
        server.client() as client,
        client.stream("POST", "/chat-messages", json=chat_body(mode="streaming")) as response,
    ):
        raw = await response.aread()
    assert "你好".encode() in raw and b'" / "' in raw


async def test_agent_chat_apps_tag_deltas_agent_message_and_accept_blocking(server: RunningServer) -> None:
    async with server.client(AGENT_KEY) as client:
        _, frames = await stream_frames(client, chat_body(mode="streaming"))
        blocking = await client.post("/chat-messages", json=chat_body())
    # An agent without tools answers in one round: its thought row, then its text.
    assert [f.event for f in frames][:2] == ["agent_thought", "agent_message"]
    assert {f.event for f in frames[:-1]} == {"agent_thought", "agent_message"}
    assert frames[1].data is not None and "from_variable_selector" not in frames[1].data
    assert blocking.status_code == 200 and blocking.json()["mode"] == "agent-chat"


async def test_pre_prompt_and_history_reach_the_model(server: RunningServer) -> None:
    async with server.client(SUPPORT_KEY) as client:
        first = (
            await client.post("/chat-messages", json=chat_body("first question", inputs=SUPPORT_INPUTS))
        ).json()
        server.upstream.behaviour.chunks = ["second", " answer"]
        await client.post(
            "/chat-messages",
            json=chat_body(
                "second question", inputs={"company": "Globex"}, conversation_id=first["conversation_id"]
            ),
        )
        await client.post(
            "/chat-messages",
            json=chat_body("third question", inputs=SUPPORT_INPUTS, conversation_id=first["conversation_id"]),
        )
    sent = server.upstream.chat_requests(stream=True)
    assert sent[0].body["messages"] == [
        {"role": "system", "content": "You help customers of Acme."},
        {"role": "user", "content": "first question"},
    ]
    assert sent[1].body["messages"][0] == {"role": "system", "content": "You help customers of Globex."}
    assert sent[2].body["messages"][1:] == [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "Hello from the fake model."},
        {"role": "user", "content": "second question"},
        {"role": "assistant", "content": "second answer"},
        {"role": "user", "content": "third question"},
    ]
    assert sent[0].body["temperature"] == 0.7 and sent[0].body["max_tokens"] == 512
    assert sent[0].body["stream_options"] == {"include_usage": True}


async def one_conversation(client: httpx.AsyncClient, turns: int) -> str:
    """Asks "question 0", "question 1", ... in one conversation; its id."""
    conversation_id = None
    for index in range(turns):
        body = chat_body(
            f"question {index}", **({"conversation_id": conversation_id} if conversation_id else {})
        )
        conversation_id = (await client.post("/chat-messages", json=body)).json()["conversation_id"]
    assert conversation_id is not None
    return str(conversation_id)


async def test_memory_is_bounded_by_its_budget(make_server: ServerFactory, tmp_path: Any) -> None:
    server = await make_server()
    server.upstream.behaviour.chunks = ["x" * 400]  # about 100 tokens per answer
    async with server.client() as client:
        await one_conversation(client, 30)
    last = server.upstream.chat_requests(stream=True)[-1].body["messages"]
    # The default budget is 2000 tokens: the newest turns only, never the oldest.
    assert last[-1] == {"role": "user", "content": "question 29"}
    assert {"role": "user", "content": "question 0"} not in last
    assert 10 < len(last) < 59


async def test_a_conversation_keeps_the_memory_window_of_the_config_it_began_with(
    make_server: ServerFactory, tmp_path: Any
) -> None:
    first = await make_server()
    async with first.client() as client:
        conversation_id = await one_conversation(client, 3)
    # The apps file changes: Plain now shows the model one earlier turn.
    changed = apps_file(first.upstream)
    for app in changed["apps"]:
        if app["name"] == "Plain":
            app["memory"] = {"max_messages": 1}
    (tmp_path / "apps.yaml").write_text(yaml.safe_dump(changed))  # the file the servers read
    second = await make_server()
    async with second.client() as client:
        continued = chat_body("question 3", conversation_id=conversation_id)
        assert (await client.post("/chat-messages", json=continued)).status_code == 200
        assert (await client.post("/chat-messages", json=chat_body("fresh 0"))).status_code == 200
        fresh_id = (await client.get("/conversations", params={"user": "u1"})).json()["data"][0]["id"]
        again = chat_body("fresh 1", conversation_id=fresh_id)
        assert (await client.post("/chat-messages", json=again)).status_code == 200
    sent = [r.body["messages"] for r in second.upstream.chat_requests(stream=True)]
    # The old conversation still sees its three turns; a new one, under the new config, one.
    assert [m["content"] for m in sent[-3] if m["role"] == "user"] == [f"question {i}" for i in range(4)]
    assert [m["content"] for m in sent[-1] if m["role"] == "user"] == ["fresh 0", "fresh 1"]


async def test_upstream_unreachable_is_a_json_error_when_blocking_and_an_error_event_when_streaming(
    server: RunningServer,
) -> None:
    async with server.client(DOWN_KEY) as client:
        blocking = await client.post("/chat-messages", json=chat_body())
        streaming, frames = await stream_frames(client, chat_body(mode="streaming"))
        history = await client.get("/conversations", params={"user": "u1"})
    assert blocking.status_code == 400
    assert blocking.headers["content-type"].startswith("application/json")
    assert blocking.json()["code"] == "completion_request_error"
    assert "Connection error" in blocking.json()["message"]
    # A stream has started once the turn has: as Dify's, it answers 200 and the model's failure
    # is its one event.
    assert streaming.status_code == 200
    assert streaming.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert [f.event for f in frames] == ["error"]
    error = frames[0].data
    assert error is not None
    assert list(error) == ERROR_EVENT_KEYS
    assert (error["code"], error["status"]) == ("completion_request_error", 400)
    assert error["message"] == blocking.json()["message"]
    # Both turns are kept, marked as failed, as Dify keeps them.
    assert len(history.json()["data"]) == 2
    async with server.client(DOWN_KEY) as client:
        for conversation in history.json()["data"]:
            messages = (
                await client.get("/messages", params={"user": "u1", "conversation_id": conversation["id"]})
            ).json()
            assert messages["data"][0]["status"] == "error" and messages["data"][0]["error"]


@pytest.mark.parametrize(
    ("status", "code", "text"),
    [
        (500, "completion_request_error", "Error code: 500"),
        (401, "completion_request_error", "Incorrect API key"),
        (429, "completion_request_error", "Rate limit"),
        (404, "model_currently_not_support", "model"),
    ],
)
async def test_upstream_http_errors_map_to_contract_codes(
    server: RunningServer, status: int, code: str, text: str
) -> None:
    server.upstream.behaviour.status = status
    server.upstream.behaviour.error_body = {"error": {"message": "the model fake-model does not exist"}}
    async with server.client() as client:
        response = await client.post("/chat-messages", json=chat_body())
    assert response.status_code == 400
    assert response.json()["code"] == code and text in response.json()["message"]


@pytest.mark.parametrize(
    "breakage", [{"cut_after": 2}, {"malformed_after": 2}, {"error_event_after": 2}, {"omit_done": True}]
)
async def test_a_stream_that_breaks_midway_ends_with_an_error_event(
    server: RunningServer, breakage: dict[str, Any]
) -> None:
    for key, value in breakage.items():
        setattr(server.upstream.behaviour, key, value)
    async with server.client() as client:
        response, frames = await stream_frames(client, chat_body(mode="streaming"))
        assert response.status_code == 200
        assert frames[-1].event == "error"
        error = frames[-1].data
        assert error is not None
        assert list(error) == ERROR_EVENT_KEYS
        assert error["code"] == "completion_request_error" and error["status"] == 400
        assert "message_end" not in [f.event for f in frames]
        history = await client.get(
            "/messages", params={"user": "u1", "conversation_id": error["conversation_id"]}
        )
    saved = history.json()["data"][0]
    assert saved["status"] == "error" and saved["error"] == error["message"]
    if "omit_done" not in breakage:
        assert saved["answer"] == "Hello from"  # what arrived before the failure is kept


async def last_saved_message(client: httpx.AsyncClient, user: str = "u1") -> dict[str, Any]:
    conversations = await client.get("/conversations", params={"user": user, "limit": 1})
    conversation_id = conversations.json()["data"][0]["id"]
    history = await client.get("/messages", params={"user": user, "conversation_id": conversation_id})
    saved: dict[str, Any] = history.json()["data"][-1]
    return saved


async def test_a_stream_line_longer_than_aiohttps_buffer_is_read_whole(server: RunningServer) -> None:
    long_text = "x" * (1024 * 1024)  # aiohttp's own line reader stops at 512 KiB
    server.upstream.behaviour.chunks = ["Hello ", long_text]
    async with server.client() as client:
        response = await client.post("/chat-messages", json=chat_body())
    assert response.status_code == 200, response.text[:300]
    assert response.json()["answer"] == "Hello " + long_text


@pytest.mark.parametrize("mode", ["blocking", "streaming"])
async def test_a_stream_line_over_the_cap_before_the_first_token_fails_the_turn(
    server: RunningServer, mode: str
) -> None:
    server.upstream.behaviour.chunks = ["x" * MAX_LINE_BYTES]  # the line's framing takes it over
    message = "[openai] Error: the model's stream sent a line longer than 16 MiB."
    async with server.client() as client:
        if mode == "blocking":
            response = await client.post("/chat-messages", json=chat_body(mode=mode))
            assert response.status_code == 400, response.text[:300]
            assert response.headers["content-type"].startswith("application/json")
            error = response.json()
            assert list(error) == ["code", "message", "status"]
        else:
            response, frames = await stream_frames(client, chat_body(mode=mode))
            assert response.status_code == 200
            assert [f.event for f in frames] == ["error"]
            assert frames[0].data is not None
            error = frames[0].data
        assert (error["code"], error["message"]) == ("completion_request_error", message)
        saved = await last_saved_message(client)
    assert saved["status"] == "error" and saved["error"] == message and saved["answer"] == ""


async def test_a_stream_line_over_the_cap_after_the_first_token_is_an_error_event(
    server: RunningServer,
) -> None:
    server.upstream.behaviour.chunks = ["Hello", "x" * MAX_LINE_BYTES]
    async with server.client() as client:
        response, frames = await stream_frames(client, chat_body(mode="streaming"))
        assert response.status_code == 200
        assert [f.event for f in frames] == ["message", "error"]
        error = frames[-1].data
        assert error["code"] == "completion_request_error" and error["status"] == 400
        assert "line longer than 16 MiB" in error["message"]
        saved = await last_saved_message(client)
    assert saved["status"] == "error" and saved["answer"] == "Hello"


async def test_ping_is_sent_while_the_model_is_silent(make_server: ServerFactory) -> None:
    server = await make_server(ping_interval=0.2)
    server.upstream.behaviour.ttft = 0.7
    async with server.client() as client:
        _, frames = await stream_frames(client, chat_body(mode="streaming"))
    events = [f.event for f in frames]
    assert events[:2] == ["ping", "ping"]
    assert events[-1] == "message_end"
    assert [f.raw for f in frames if f.event == "ping"][0] == b"event: ping"


class OpenStream:
    """Reads a streaming response event by event, keeping what is left for later."""

    def __init__(self, response: httpx.Response) -> None:
        self._chunks = response.aiter_bytes()
        self.buffer = b""

    async def first_event(self) -> dict[str, Any]:
        async for chunk in self._chunks:
            self.buffer += chunk
            if b"\n\n" in self.buffer:
                head, _, self.buffer = self.buffer.partition(b"\n\n")
                return dict(json.loads(head[6:]))
        raise AssertionError("no event")

    async def rest(self) -> bytes:
        async for chunk in self._chunks:
            self.buffer += chunk
        return self.buffer


async def read_until_first_message(response: httpx.Response) -> dict[str, Any]:
    return await OpenStream(response).first_event()


async def test_stop_ends_the_stream_with_message_end_and_saves_the_partial_answer(
    server: RunningServer,
) -> None:
    server.upstream.behaviour.gap = 1.0
    server.upstream.behaviour.chunks = ["one", " two", " three", " four", " five", " six"]
    async with server.client() as client:
        async with client.stream("POST", "/chat-messages", json=chat_body(mode="streaming")) as response:
            stream = OpenStream(response)
            first = await stream.first_event()
            loop = asyncio.get_running_loop()
            asked = loop.time()
            stop = await client.post(f"/chat-messages/{first['task_id']}/stop", json={"user": "u1"})
            rest = await stream.rest()
            elapsed = loop.time() - asked
        assert stop.status_code == 200 and stop.json() == {"result": "success"}
        frames = parse_frames(rest)
        assert frames[-1].event == "message_end"
        assert elapsed < 3.0  # far less than the remaining 5 s of answer
        history = await client.get(
            "/messages", params={"user": "u1", "conversation_id": first["conversation_id"]}
        )
    saved = history.json()["data"][0]
    assert saved["status"] == "normal"
    assert saved["answer"].startswith("one") and "six" not in saved["answer"]
    record = server.upstream.chat_requests(stream=True)[0]
    for _ in range(40):  # the fake notices on its next write, at most one gap later
        if record.disconnected:
            break
        await asyncio.sleep(0.05)
    assert record.disconnected and not record.finished, "the upstream call was cancelled"


async def test_stop_by_another_user_does_nothing(server: RunningServer) -> None:
    server.upstream.behaviour.gap = 0.05
    async with (
        server.client() as client,
        client.stream("POST", "/chat-messages", json=chat_body(mode="streaming")) as response,
    ):
        stream = OpenStream(response)
        first = await stream.first_event()
        stop = await client.post(f"/chat-messages/{first['task_id']}/stop", json={"user": "intruder"})
        rest = await stream.rest()
    assert stop.json() == {"result": "success"}
    frames = parse_frames(rest)
    assert frames[-1].event == "message_end"
    assert "".join(f.data["answer"] for f in frames[:-1] if f.data) == " from the fake model."


async def test_stop_of_an_unknown_task_succeeds_quietly(server: RunningServer) -> None:
    async with server.client() as client:
        for task_id in ("not-a-uuid", "4f1c1d2e-0000-4000-8000-000000000000"):
            response = await client.post(f"/chat-messages/{task_id}/stop", json={"user": "u1"})
            assert response.status_code == 200 and response.json() == {"result": "success"}
        missing_user = await client.post("/chat-messages/x/stop", json={})
    assert missing_user.status_code == 400 and missing_user.json()["code"] == "invalid_param"


async def redis_available() -> bool:
    from redis import asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    try:
        return bool(await client.ping())
    except OSError:
        return False
    finally:
        await client.aclose()


@pytest.mark.parametrize("relay", ["database", "redis"])
async def test_stop_reaches_a_generation_running_in_another_worker(
    make_server: ServerFactory, relay: str
) -> None:
    options: dict[str, Any] = {"multi_worker": True}
    if relay == "redis":
        if not await redis_available():
            missing_service("Redis is not reachable at 127.0.0.1:6379")
        options["redis_url"] = REDIS_URL
    worker_a = await make_server(**options)
    worker_b = await make_server(**options)
    # Long gaps between tokens: only a stop that reached worker A ends its answer after "Hello"
    # (how fast a stop lands is measured by the benchmarks, not asserted here).
    worker_a.upstream.behaviour.gap = 3.0
    async with worker_a.client() as client_a, worker_b.client() as client_b:
        async with client_a.stream("POST", "/chat-messages", json=chat_body(mode="streaming")) as response:
            stream = OpenStream(response)
            first = await stream.first_event()
            stopped = await client_b.post(f"/chat-messages/{first['task_id']}/stop", json={"user": "u1"})
            rest = await stream.rest()
        history = await client_b.get(
            "/messages", params={"user": "u1", "conversation_id": first["conversation_id"]}
        )
    assert stopped.json() == {"result": "success"}
    frames = parse_frames(rest)
    assert frames[-1].event == "message_end"
    assert not [f for f in frames if f.event == "message"]  # nothing after the stop
    assert history.json()["data"][0]["answer"] == "Hello"


async def test_a_client_that_disconnects_loses_nothing(server: RunningServer) -> None:
    server.upstream.behaviour.gap = 0.05
    async with server.client() as client:
        async with client.stream("POST", "/chat-messages", json=chat_body(mode="streaming")) as response:
            first = await read_until_first_message(response)
        # The stream is closed after the first event; the generation goes on.
        for _ in range(100):
            history = await client.get(
                "/messages", params={"user": "u1", "conversation_id": first["conversation_id"]}
            )
            if history.json()["data"][0]["answer"] == "Hello from the fake model.":
                break
            await asyncio.sleep(0.05)
    assert history.json()["data"][0]["answer"] == "Hello from the fake model."


async def test_concurrency_limit_answers_429(server: RunningServer) -> None:
    server.upstream.behaviour.gap = 0.2
    async with server.client(LIMITED_KEY) as client:
        async with client.stream("POST", "/chat-messages", json=chat_body(mode="streaming")) as response:
            stream = OpenStream(response)
            await stream.first_event()
            refused = await client.post("/chat-messages", json=chat_body())
            await stream.rest()
        accepted = await client.post("/chat-messages", json=chat_body())
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_requests"
    assert "maximum concurrent requests" in refused.json()["message"]
    assert accepted.status_code == 200


async def test_new_conversation_gets_a_model_written_title_in_the_background(server: RunningServer) -> None:
    async with server.client(PLAIN_KEY) as client:
        created = (
            await client.post("/chat-messages", json=chat_body("a question longer than twenty chars"))
        ).json()
        names = []
        for _ in range(100):
            listing = (await client.get("/conversations", params={"user": "u1"})).json()
            names.append(listing["data"][0]["name"])
            if names[-1] == "A fake title":
                break
            await asyncio.sleep(0.02)
    assert names[-1] == "A fake title"
    assert created["conversation_id"] == listing["data"][0]["id"]
    title_calls = server.upstream.chat_requests(stream=False)
    assert len(title_calls) == 1 and "a question longer than twenty chars" in json.dumps(title_calls[0].body)


async def test_a_burst_of_new_conversations_gets_every_title_though_titles_wait_their_turn(
    server: RunningServer,
) -> None:
    burst = 40  # more than the title calls allowed at once (16)
    async with server.client(PLAIN_KEY) as client:
        bodies = [chat_body(f"burst question number {i:02d}") for i in range(burst)]
        answers = await asyncio.gather(*(client.post("/chat-messages", json=body) for body in bodies))
        assert [a.status_code for a in answers] == [200] * burst
        named: list[str] = []
        for _ in range(250):
            listing = (await client.get("/conversations", params={"user": "u1", "limit": 100})).json()
            named = [c["name"] for c in listing["data"] if c["name"] == "A fake title"]
            if len(named) == burst:
                break
            await asyncio.sleep(0.02)
    assert len(named) == burst
    asked = {c.body["messages"][-1]["content"] for c in server.upstream.chat_requests(stream=False)}
    assert all(any(f"number {i:02d}" in text for text in asked) for i in range(burst))


async def test_concurrent_first_ratings_of_one_message_never_fail(server: RunningServer) -> None:
    async with server.client() as client:
        message = (await client.post("/chat-messages", json=chat_body())).json()
        url = f"/messages/{message['id']}/feedbacks"
        results = await asyncio.gather(
            *(client.post(url, json={"user": "u1", "rating": rating}) for rating in ["like", "dislike"] * 4)
        )
        feedbacks = (await client.get("/app/feedbacks")).json()["data"]
    assert [r.status_code for r in results] == [200] * 8
    assert len(feedbacks) == 1 and feedbacks[0]["rating"] in ("like", "dislike")
