"""Keyword moderation: preset answers for flagged inputs, message_replace for flagged outputs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.conftest import MODERATED_KEY, RunningServer
from tests.sse import Frame, parse_frames

pytestmark = pytest.mark.anyio

INPUT_PRESET = "I can't talk about that."
OUTPUT_PRESET = "[answer removed]"


def body(query: str, mode: str = "blocking", **inputs: Any) -> dict[str, Any]:
    return {"inputs": inputs, "query": query, "user": "u1", "response_mode": mode}


async def stream(client: httpx.AsyncClient, payload: dict[str, Any]) -> list[Frame]:
    async with client.stream("POST", "/chat-messages", json=payload) as response:
        raw = await response.aread()
    assert response.status_code == 200, raw
    return parse_frames(raw)


async def history(client: httpx.AsyncClient, conversation_id: str) -> list[dict[str, Any]]:
    response = await client.get("/messages", params={"conversation_id": conversation_id, "user": "u1"})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


@pytest.mark.parametrize("query", ["Tell me the SECRET plan", "is contraband ok?", "forbidden"])
async def test_flagged_query_gets_the_preset_without_the_model(server: RunningServer, query: str) -> None:
    async with server.client(MODERATED_KEY) as client:
        response = await client.post("/chat-messages", json=body(query))
        answer = response.json()
        saved = await history(client, answer["conversation_id"])
    assert response.status_code == 200
    assert answer["answer"] == INPUT_PRESET
    assert answer["metadata"]["annotation_reply"] is None
    usage = answer["metadata"]["usage"]
    assert (usage["total_tokens"], usage["total_price"]) == (0, "0.0")
    assert server.upstream.chat_requests(stream=True) == []
    assert [(m["query"], m["answer"]) for m in saved] == [(query, INPUT_PRESET)]


async def test_flagged_input_variable_gets_the_preset(server: RunningServer) -> None:
    async with server.client(MODERATED_KEY) as client:
        answer = (await client.post("/chat-messages", json=body("hello", topic="our secret plan"))).json()
    assert answer["answer"] == INPUT_PRESET


async def test_flagged_query_streams_the_preset_one_character_at_a_time(server: RunningServer) -> None:
    async with server.client(MODERATED_KEY) as client:
        frames = await stream(client, body("forbidden words", mode="streaming"))
    assert [f.event for f in frames] == ["message"] * len(INPUT_PRESET) + ["message_end"]
    assert "".join(f.data["answer"] for f in frames[:-1] if f.data) == INPUT_PRESET


async def test_clean_query_reaches_the_model(server: RunningServer) -> None:
    async with server.client(MODERATED_KEY) as client:
        answer = (await client.post("/chat-messages", json=body("hello there"))).json()
    assert answer["answer"] == "Hello from the fake model."
    assert len(server.upstream.chat_requests(stream=True)) == 1


async def test_flagged_output_is_replaced_before_message_end(server: RunningServer) -> None:
    server.upstream.behaviour.chunks = ["Here is ", "the forbid", "den answer."]
    async with server.client(MODERATED_KEY) as client:
        frames = await stream(client, body("hello", mode="streaming"))
        conversation_id = frames[0].data["conversation_id"] if frames[0].data else ""
        saved = await history(client, conversation_id)
    assert [f.event for f in frames] == ["message"] * 3 + ["message_replace", "message_end"]
    replace = frames[3].data
    assert replace is not None
    assert list(replace) == [
        "event",
        "conversation_id",
        "message_id",
        "created_at",
        "task_id",
        "answer",
        "reason",
    ]
    assert (replace["answer"], replace["reason"]) == (OUTPUT_PRESET, "")
    assert saved[0]["answer"] == OUTPUT_PRESET
    # The model's tokens were still spent.
    end = frames[-1].data
    assert end is not None and end["metadata"]["usage"]["total_tokens"] == 16


async def test_blocking_returns_the_replaced_answer(server: RunningServer) -> None:
    server.upstream.behaviour.chunks = ["some ", "contraband", " talk"]
    async with server.client(MODERATED_KEY) as client:
        answer = (await client.post("/chat-messages", json=body("hello"))).json()
    assert answer["answer"] == OUTPUT_PRESET


async def test_apps_without_moderation_are_untouched(server: RunningServer) -> None:
    server.upstream.behaviour.chunks = ["forbidden ", "contraband"]
    async with server.client() as client:
        answer = (await client.post("/chat-messages", json=body("forbidden"))).json()
    assert answer["answer"] == "forbidden contraband"
