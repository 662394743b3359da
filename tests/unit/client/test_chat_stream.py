"""Streaming answers: typed events, accumulated text, ids, stop, errors, and closing."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from difychat import (
    APIConnectionError,
    AsyncDifyChat,
    CompletionRequestError,
    DifyChat,
    IncompleteStreamError,
    InternalServerError,
    NotFoundError,
    ProviderQuotaExceededError,
)
from difychat.types import (
    AgentThoughtEvent,
    MessageEndEvent,
    MessageEvent,
    MessageFileEvent,
    StreamEvent,
    TTSMessageEvent,
)
from tests.unit.client.client_fakes import FakeServer, error_body, event, sse_response

IDS = {"conversation_id": "c0ffee00-3333", "message_id": "7a3e9c10-2222", "created_at": 1735689600}
TASK = "b1f0c0de-1111"


def delta(text: str, kind: str = "message") -> dict[str, Any]:
    return {"event": kind, **IDS, "task_id": TASK, "id": IDS["message_id"], "answer": text}


def end(total_price: str = "0E-7") -> dict[str, Any]:
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5, "total_price": total_price}
    metadata: dict[str, Any] = {"annotation_reply": None, "retriever_resources": [], "usage": usage}
    return {"event": "message_end", **IDS, "task_id": TASK, "id": IDS["message_id"], "metadata": metadata}


def test_text_deltas_accumulate_and_usage_arrives_at_the_end(client: DifyChat, server: FakeServer) -> None:
    response, body = sse_response(event(delta("Hel")), b"event: ping\n\n", event(delta("lo")), event(end()))
    server.add(response)
    with client.stream_message("hi") as stream:
        texts = list(stream.iter_text())
    assert texts == ["Hel", "lo"]
    assert stream.answer == "Hello"
    assert stream.usage is not None
    assert stream.usage.total_tokens == 5
    assert stream.usage.total_price == Decimal(0)
    assert body.closed


def test_request_asks_for_streaming(client: DifyChat, server: FakeServer) -> None:
    server.add(sse_response(event(end()))[0])
    client.stream_message("hi", conversation_id="c1", inputs={"name": "x"}).collect()
    sent = server.last_json()
    assert sent["response_mode"] == "streaming"
    assert sent["conversation_id"] == "c1"
    assert sent["inputs"] == {"name": "x"}
    assert server.last.headers["accept"] == "text/event-stream"


def test_ids_are_known_after_the_first_event_without_consuming_it(
    client: DifyChat, server: FakeServer
) -> None:
    server.add(sse_response(event(delta("A")), event(delta("B")), event(end()))[0])
    with client.stream_message("hi") as stream:
        assert (stream.task_id, stream.message_id, stream.conversation_id) == (None, None, None)
        first = stream.peek()
        assert isinstance(first, MessageEvent)
        assert (stream.task_id, stream.message_id, stream.conversation_id) == (
            TASK,
            IDS["message_id"],
            IDS["conversation_id"],
        )
        assert stream.peek() is first
        events = list(stream)
    assert [type(e) for e in events] == [MessageEvent, MessageEvent, MessageEndEvent]
    assert events[0] is first


def test_pings_and_non_json_frames_are_skipped(client: DifyChat, server: FakeServer) -> None:
    response, _ = sse_response(
        b"event: ping\n\n", b": comment\n\n", b"data: [DONE]\n\n", event(delta("x")), event(end())
    )
    server.add(response)
    with client.stream_message("hi") as stream:
        kinds = [e.event for e in stream]
    assert kinds == ["message", "message_end"]


def test_message_file_carrying_answer_is_text(client: DifyChat, server: FakeServer) -> None:
    # Dify 1.11-1.12 tags text deltas "message_file" once the message has any file.
    genuine = {
        "event": "message_file",
        **IDS,
        "task_id": TASK,
        "id": "f1",
        "type": "image",
        "belongs_to": "assistant",
        "url": "https://files.example/f1.png",
    }
    server.add(
        sse_response(
            event(delta("See ", "message_file")),
            event(genuine),
            event(delta("this", "message_file")),
            event(end()),
        )[0]
    )
    with client.stream_message("hi") as stream:
        events = list(stream)
    assert isinstance(events[0], MessageEvent) and events[0].event == "message_file"
    assert isinstance(events[1], MessageFileEvent) and events[1].url == "https://files.example/f1.png"
    assert stream.answer == "See this"


def test_agent_messages_and_thoughts(client: DifyChat, server: FakeServer) -> None:
    thought = {
        "event": "agent_thought",
        **IDS,
        "task_id": TASK,
        "id": "th1",
        "position": 1,
        "thought": "hmm",
        "tool": "dalle3",
        "tool_labels": {},
        "tool_input": "{}",
        "message_files": [],
    }
    server.add(sse_response(event(thought), event(delta("Sure", "agent_message")), event(end()))[0])
    with client.stream_message("draw") as stream:
        events = list(stream)
    assert isinstance(events[0], AgentThoughtEvent) and events[0].tool == "dalle3"
    assert stream.answer == "Sure"


def test_message_replace_replaces_the_answer(client: DifyChat, server: FakeServer) -> None:
    replace = {"event": "message_replace", **IDS, "task_id": TASK, "answer": "[redacted]", "reason": ""}
    server.add(sse_response(event(delta("bad words")), event(replace), event(end()))[0])
    assert client.stream_message("hi").collect().answer == "[redacted]"


def test_unknown_events_are_yielded_with_their_fields(client: DifyChat, server: FakeServer) -> None:
    node = {"event": "node_started", **IDS, "task_id": TASK, "data": {"node_id": "n1"}}
    server.add(sse_response(event(node), event(end()))[0])
    with client.stream_message("hi") as stream:
        first = next(iter(stream))
    assert type(first) is StreamEvent
    assert first.event == "node_started"
    assert first.model_extra == {"data": {"node_id": "n1"}}


def test_tts_events_after_message_end_are_still_delivered(client: DifyChat, server: FakeServer) -> None:
    tts = {"event": "tts_message", **IDS, "task_id": TASK, "audio": "SUQz"}
    tts_end = {"event": "tts_message_end", **IDS, "task_id": TASK, "audio": ""}
    server.add(sse_response(event(delta("hi")), event(end()), event(tts), event(tts_end))[0])
    with client.stream_message("hi") as stream:
        events = list(stream)
    assert [e.event for e in events] == ["message", "message_end", "tts_message", "tts_message_end"]
    assert isinstance(events[2], TTSMessageEvent) and events[2].audio == "SUQz"


def test_collect_returns_a_chat_message_like_the_blocking_call(client: DifyChat, server: FakeServer) -> None:
    server.add(sse_response(event(delta("4")), event(delta("2")), event(end("0.0000300")))[0])
    message = client.stream_message("6*7?").collect()
    assert message.answer == "42"
    assert message.id == message.message_id == IDS["message_id"]
    assert message.conversation_id == IDS["conversation_id"]
    assert message.task_id == TASK
    assert message.usage is not None and message.usage.total_price == Decimal("0.0000300")
    assert message.created_at is not None and message.created_at.timestamp() == IDS["created_at"]


def test_error_event_raises_the_mapped_error_after_earlier_events(
    client: DifyChat, server: FakeServer
) -> None:
    failure = {
        "event": "error",
        **IDS,
        "code": "completion_request_error",
        "status": 400,
        "message": "[openai] Error: Request timed out.",
    }
    response, body = sse_response(event(delta("partial")), event(failure), event(delta("never")))
    server.add(response)
    received: list[str] = []
    with pytest.raises(CompletionRequestError) as caught, client.stream_message("hi") as stream:
        for text in stream.iter_text():
            received.append(text)
    assert received == ["partial"]
    assert caught.value.in_stream is True
    assert caught.value.status_code == 400
    assert caught.value.message == "[openai] Error: Request timed out."
    assert body.closed


def test_error_event_with_500_status_is_an_internal_server_error(
    client: DifyChat, server: FakeServer
) -> None:
    failure = {"event": "error", **IDS, "code": "internal_server_error", "status": 500, "message": "boom"}
    server.add(sse_response(event(failure))[0])
    with pytest.raises(InternalServerError):
        client.stream_message("hi").collect()


def test_errors_before_the_stream_starts_are_raised_by_the_call(client: DifyChat, server: FakeServer) -> None:
    server.add(error_body(404, "not_found", "Conversation Not Exists."))
    with pytest.raises(NotFoundError):
        client.stream_message("hi", conversation_id="nope")


def test_body_ending_without_message_end_is_incomplete(client: DifyChat, server: FakeServer) -> None:
    response, body = sse_response(event(delta("cut")))
    server.add(response)
    stream = client.stream_message("hi")
    with pytest.raises(IncompleteStreamError):
        list(stream)
    assert stream.answer == "cut"
    assert body.closed and stream.closed


def test_connection_breaking_mid_stream_is_a_connection_error(client: DifyChat, server: FakeServer) -> None:
    response, body = sse_response(event(delta("so far")), httpx.ReadError("connection reset"))
    server.add(response)
    stream = client.stream_message("hi")
    with pytest.raises(APIConnectionError):
        for _ in stream:
            pass
    assert stream.answer == "so far"
    assert body.closed


def test_leaving_the_with_block_early_closes_the_connection(client: DifyChat, server: FakeServer) -> None:
    response, body = sse_response(event(delta("a")), event(delta("b")), event(end()))
    server.add(response)
    with client.stream_message("hi") as stream:
        next(iter(stream))
    assert body.closed
    assert body.delivered == 1
    assert list(stream) == []


def test_stop_calls_the_stop_endpoint_then_closes(client: DifyChat, server: FakeServer) -> None:
    response, body = sse_response(event(delta("Once upon")), event(delta(" a time")), event(end()))
    server.add(response, httpx.Response(200, json={"result": "success"}))
    with client.stream_message("story", user="bob") as stream:
        for _ in stream.iter_text():
            stream.stop()
    stop_request = server.requests[1]
    assert stop_request.method == "POST"
    assert stop_request.url.path == f"/v1/chat-messages/{TASK}/stop"
    assert json.loads(stop_request.content) == {"user": "bob"}
    assert body.closed
    assert stream.answer == "Once upon"


def test_stop_before_iterating_waits_for_the_task_id(client: DifyChat, server: FakeServer) -> None:
    server.add(
        sse_response(event(delta("x")), event(end()))[0], httpx.Response(200, json={"result": "success"})
    )
    stream = client.stream_message("hi", api_key="app-other")
    stream.stop()
    assert server.requests[1].url.path == f"/v1/chat-messages/{TASK}/stop"
    assert server.requests[1].headers["authorization"] == "Bearer app-other"
    assert stream.closed


def test_stop_after_message_end_does_not_call_the_server(client: DifyChat, server: FakeServer) -> None:
    server.add(sse_response(event(delta("x")), event(end()))[0])
    stream = client.stream_message("hi")
    stream.collect()
    stream.stop()
    assert len(server.requests) == 1


def test_stop_failure_still_closes_the_stream(client: DifyChat, server: FakeServer) -> None:
    response, body = sse_response(event(delta("x")), event(end()))
    server.add(response, error_body(401, "unauthorized", "Access token is invalid"))
    stream = client.stream_message("hi")
    stream.peek()
    with pytest.raises(Exception, match="Access token"):
        stream.stop()
    assert body.closed


def test_fragmented_hostile_stream_decodes_into_the_same_answer(client: DifyChat, server: FakeServer) -> None:
    raw = event(delta("Grüße, ")) + b"event: ping\r\n\r\n" + event(delta("世界 🌍")) + event(end())
    pieces = [raw[i : i + 3] for i in range(0, len(raw), 3)]
    server.add(sse_response(*pieces)[0])
    assert client.stream_message("hi").collect().answer == "Grüße, 世界 🌍"


@pytest.mark.anyio
async def test_async_stream_text_ids_and_close(async_client: AsyncDifyChat, server: FakeServer) -> None:
    response, body = sse_response(event(delta("Hel")), b"event: ping\n\n", event(delta("lo")), event(end()))
    server.add(response)
    async with await async_client.stream_message("hi") as stream:
        await stream.peek()
        assert stream.task_id == TASK
        texts = [text async for text in stream.iter_text()]
    assert texts == ["Hel", "lo"]
    assert stream.usage is not None and stream.usage.total_tokens == 5
    assert body.closed


@pytest.mark.anyio
async def test_async_error_event_raises(async_client: AsyncDifyChat, server: FakeServer) -> None:
    failure = {"event": "error", **IDS, "code": "provider_quota_exceeded", "message": "quota", "status": 400}
    response, body = sse_response(event(delta("a")), event(failure))
    server.add(response)
    stream = await async_client.stream_message("hi")
    with pytest.raises(ProviderQuotaExceededError) as caught:
        await stream.collect()
    assert caught.value.code == "provider_quota_exceeded"
    assert body.closed


@pytest.mark.anyio
async def test_async_stop_and_incomplete(async_client: AsyncDifyChat, server: FakeServer) -> None:
    response, body = sse_response(event(delta("a")), event(delta("b")))
    server.add(response, httpx.Response(200, json={"result": "success"}))
    async with await async_client.stream_message("hi") as stream:
        async for _ in stream:
            await stream.stop()
    assert server.requests[1].url.path.endswith(f"/{TASK}/stop")
    assert body.closed

    server.add(sse_response(event(delta("cut")))[0])
    stream = await async_client.stream_message("hi")
    with pytest.raises(IncompleteStreamError):
        await stream.collect()


@pytest.mark.anyio
async def test_async_broken_connection(async_client: AsyncDifyChat, server: FakeServer) -> None:
    server.add(sse_response(event(delta("a")), httpx.RemoteProtocolError("peer closed"))[0])
    stream = await async_client.stream_message("hi")
    with pytest.raises(APIConnectionError):
        await stream.collect()
    assert stream.closed
