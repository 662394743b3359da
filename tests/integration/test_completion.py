"""Completion apps: POST /completion-messages (blocking and streaming), its stop, validation,
the mode checks in both directions, the rows kept and feedback on them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml

from difychat.server.store.schema import conversations, messages
from tests.fakes.upstream import FakeUpstream
from tests.integration.conftest import PLAIN_KEY, RunningServer, ServerFactory, apps_file
from tests.integration.helpers import FAKE_ANSWER, assert_error, chat, database, random_id
from tests.integration.test_chat import USAGE_KEYS, OpenStream
from tests.sse import parse_frames

pytestmark = pytest.mark.anyio

WRITER_KEY = "app-writerwriterwriterwri001"
TRANSLATOR_KEY = "app-translatortranslator0001"
MCP_CODE = "WriterWriter0000"
BLOCKING_KEYS = ["event", "task_id", "id", "message_id", "mode", "answer", "metadata", "created_at"]
MESSAGE_KEYS = ["event", "message_id", "created_at", "task_id", "id", "answer", "from_variable_selector"]
END_KEYS = ["event", "message_id", "created_at", "task_id", "id", "metadata", "files"]
NOT_CHAT = "Please check if your app mode matches the right API route."
UNAVAILABLE = "App unavailable, please check your app configurations."


def completion_apps(upstream: FakeUpstream) -> list[dict[str, Any]]:
    model = {"provider": "openai", "name": "fake-model", "base_url": upstream.base_url, "api_key": "sk-test"}
    return [
        # Dify's new completion app: a required `query` paragraph and the prompt `{{query}}`.
        {
            "name": "Writer",
            "mode": "completion",
            "api_keys": [WRITER_KEY],
            "mcp_server": {"enabled": True, "code": MCP_CODE},
            "model": {
                **model,
                "pricing": {"input": "0.15", "output": "0.60", "unit": "0.000001", "currency": "USD"},
            },
        },
        {
            "name": "Translator",
            "mode": "completion",
            "api_keys": [TRANSLATOR_KEY],
            "model": model,
            "pre_prompt": "Translate into {{language}}:\n{{query}}",
            "user_input_form": [
                {
                    "select": {
                        "variable": "language",
                        "label": "Language",
                        "required": True,
                        "options": ["French", "German"],
                    }
                },
                {"paragraph": {"variable": "query", "label": "Text", "required": True, "max_length": 200}},
            ],
            "more_like_this": {"enabled": True},
            "sensitive_word_avoidance": {
                "enabled": True,
                "type": "keywords",
                "config": {
                    "keywords": "contraband",
                    "inputs_config": {"enabled": True, "preset_response": "Not that."},
                    "outputs_config": {"enabled": False},
                },
            },
        },
    ]


@pytest.fixture
async def server(make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream) -> RunningServer:
    data = apps_file(upstream)
    data["apps"] += completion_apps(upstream)
    (tmp_path / "apps.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return await make_server()


def body(inputs: dict[str, Any] | None = None, user: str = "u1", mode: str = "blocking", **extra: Any) -> Any:
    return {
        "inputs": {"query": "a haiku"} if inputs is None else inputs,
        "user": user,
        "response_mode": mode,
        "files": None,
        **extra,
    }


async def complete(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/completion-messages", json=body(**fields))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def prompt_sent(upstream: FakeUpstream) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = upstream.chat_requests(stream=True)[-1].body["messages"]
    return sent


async def test_blocking_answer_has_the_completion_keys_in_order(server: RunningServer) -> None:
    async with server.client(WRITER_KEY) as client:
        response = await client.post("/completion-messages", json=body())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    answer = response.json()
    assert list(answer) == BLOCKING_KEYS  # no conversation_id
    assert answer["event"] == "message" and answer["mode"] == "completion"
    assert answer["id"] == answer["message_id"] and answer["answer"] == FAKE_ANSWER
    assert isinstance(answer["created_at"], int)
    assert list(answer["metadata"]) == ["annotation_reply", "retriever_resources", "usage"]
    usage = answer["metadata"]["usage"]
    assert list(usage) == USAGE_KEYS
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_price"]) == (11, 5, "0.0000047")
    # The filled-in prompt is the user's message; there is no memory and no system message.
    assert prompt_sent(server.upstream) == [{"role": "user", "content": "a haiku"}]


async def test_the_prompt_is_filled_from_the_form_and_a_top_level_query_follows_it(
    server: RunningServer,
) -> None:
    inputs = {"language": "French", "query": "good morning"}
    async with server.client(TRANSLATOR_KEY) as client:
        await complete(client, inputs=inputs)
        assert prompt_sent(server.upstream) == [
            {"role": "user", "content": "Translate into French:\ngood morning"}
        ]
        # Dify's request may also carry `query`: the prompt becomes the system message.
        await complete(client, inputs=inputs, query="and good night")
    assert prompt_sent(server.upstream) == [
        {"role": "system", "content": "Translate into French:\ngood morning"},
        {"role": "user", "content": "and good night"},
    ]


async def test_streaming_sends_message_events_then_message_end_without_a_conversation(
    server: RunningServer,
) -> None:
    server.upstream.behaviour.chunks = ["Grüße", " ", "東京"]
    async with (
        server.client(WRITER_KEY) as client,
        client.stream("POST", "/completion-messages", json=body(mode="streaming")) as response,
    ):
        raw = await response.aread()
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    frames = parse_frames(raw)
    assert [f.event for f in frames] == ["message"] * 3 + ["message_end"]
    deltas = [f.data for f in frames[:-1] if f.data is not None]
    assert all(list(d) == MESSAGE_KEYS for d in deltas)
    assert all(d["from_variable_selector"] is None and d["id"] == d["message_id"] for d in deltas)
    assert "".join(d["answer"] for d in deltas) == "Grüße 東京"
    end = frames[-1].data
    assert end is not None and list(end) == END_KEYS
    assert end["files"] is None and end["id"] == end["message_id"]
    assert list(end["metadata"]) == ["annotation_reply", "retriever_resources", "usage"]
    assert (
        len({(f.data["message_id"], f.data["created_at"], f.data["task_id"]) for f in frames if f.data}) == 1
    )


async def test_flagged_inputs_get_the_preset_answer_without_the_model(server: RunningServer) -> None:
    async with server.client(TRANSLATOR_KEY) as client:
        answer = await complete(client, inputs={"language": "German", "query": "contraband prices"})
    assert answer["answer"] == "Not that."
    assert server.upstream.chat_requests() == []


async def test_each_completion_keeps_a_conversation_and_message_of_its_own(server: RunningServer) -> None:
    async with server.client(TRANSLATOR_KEY) as client:
        first = await complete(client, inputs={"language": "French", "query": "one", "extra": "dropped"})
        second = await complete(client, inputs={"language": "German", "query": "two"})
    async with database(server) as engine, engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(messages, conversations.c.mode, conversations.c.name, conversations.c.introduction)
                .join(conversations, conversations.c.id == messages.c.conversation_id)
                .where(messages.c.id.in_([first["id"], second["id"]]))
                .order_by(messages.c.created_at)
            )
        ).all()
    assert len({r.conversation_id for r in rows}) == 2
    assert {(r.mode, r.name, r.introduction) for r in rows} == {("completion", "New conversation", "")}
    assert [r.inputs for r in rows] == [
        {"language": "French", "query": "one"},
        {"language": "German", "query": "two"},
    ]
    assert [(r.query, r.answer, r.status, r.parent_message_id) for r in rows] == [
        ("", FAKE_ANSWER, "normal", None)
    ] * 2


async def test_feedback_works_on_a_completion(server: RunningServer) -> None:
    async with server.client(WRITER_KEY) as client:
        message_id = (await complete(client))["id"]
        liked = await client.post(f"/messages/{message_id}/feedbacks", json={"rating": "like", "user": "u1"})
        foreign = await client.post(
            f"/messages/{message_id}/feedbacks", json={"rating": "like", "user": "someone-else"}
        )
        listed = await client.get("/app/feedbacks")
    assert liked.status_code == 200 and liked.json() == {"result": "success"}
    assert_error(foreign, 404, "not_found", "Message Not Exists.")
    (item,) = listed.json()["data"]
    assert (item["message_id"], item["rating"]) == (message_id, "like")


async def test_request_validation(server: RunningServer) -> None:
    async with server.client(TRANSLATOR_KEY) as client:

        async def refused(payload: Any, message: str | None = None) -> None:
            assert_error(
                await client.post("/completion-messages", json=payload), 400, "invalid_param", message
            )

        await refused({"inputs": {"query": "x"}}, "Arg user must be provided.")
        await refused({"user": "u1"})  # inputs is required
        await refused({"user": "u1", "inputs": []})
        await refused(body(inputs={"language": "French"}), "query is required in input form")
        await refused(
            body(inputs={"language": "Klingon", "query": "x"}),
            "language in input form must be one of the following: ['French', 'German']",
        )
        await refused(
            body(inputs={"language": "French", "query": "x" * 201}),
            "query in input form must be less than 200 characters",
        )
        await refused(body(mode="sometimes"))
        await refused(body(query=42))
        wrong_type = await client.post(
            "/completion-messages", content=b"{}", headers={"content-type": "text/plain"}
        )
        assert_error(wrong_type, 415, "unsupported_media_type")
    assert server.upstream.chat_requests() == []


async def test_a_completion_app_on_the_chat_routes_is_not_chat_app(server: RunningServer) -> None:
    async with server.client(WRITER_KEY) as client:
        message_id = (await complete(client))["id"]
        chat_body = {"inputs": {}, "query": "hi", "user": "u1"}
        refused = [
            await client.post("/chat-messages", json=chat_body),
            await client.post(f"/chat-messages/{random_id()}/stop", json={"user": "u1"}),
            await client.get("/messages", params={"user": "u1", "conversation_id": random_id()}),
            await client.get(f"/messages/{message_id}/suggested", params={"user": "u1"}),
            await client.get("/conversations", params={"user": "u1"}),
            await client.post(f"/conversations/{random_id()}/name", json={"name": "x", "user": "u1"}),
            await client.request("DELETE", f"/conversations/{random_id()}", json={"user": "u1"}),
            await client.get(f"/conversations/{random_id()}/variables", params={"user": "u1"}),
            await client.put(f"/conversations/{random_id()}/variables/{random_id()}", json={"value": 1}),
        ]
        # What does not depend on the mode answers as for any app.
        parameters = await client.get("/parameters")
        info = await client.get("/info")
    for response in refused:
        assert_error(response, 400, "not_chat_app", NOT_CHAT)
    assert info.json()["mode"] == "completion"
    shown = parameters.json()
    assert shown["opening_statement"] is None and shown["suggested_questions"] == []
    assert shown["user_input_form"] == [
        {"paragraph": {"label": "Query", "variable": "query", "required": True, "default": ""}}
    ]


async def test_a_chat_app_on_the_completion_routes_is_app_unavailable(server: RunningServer) -> None:
    async with server.client(PLAIN_KEY) as client:
        created = await client.post("/completion-messages", json=body())
        stopped = await client.post(f"/completion-messages/{random_id()}/stop", json={"user": "u1"})
        missing_user = await client.post("/completion-messages", json={"inputs": {}})
        still_chats = await chat(client, "u1")
    assert_error(created, 400, "app_unavailable", UNAVAILABLE)
    assert_error(stopped, 400, "app_unavailable", UNAVAILABLE)
    # The user is checked first, as Dify does.
    assert_error(missing_user, 400, "invalid_param", "Arg user must be provided.")
    assert still_chats["answer"] == FAKE_ANSWER


async def test_parameters_show_more_like_this(server: RunningServer) -> None:
    async with server.client(TRANSLATOR_KEY) as client:
        shown = (await client.get("/parameters")).json()
    assert shown["more_like_this"] == {"enabled": True}
    assert [next(iter(item)) for item in shown["user_input_form"]] == ["select", "paragraph"]


async def test_stop_ends_the_stream_with_message_end_and_saves_the_partial_answer(
    server: RunningServer,
) -> None:
    server.upstream.behaviour.gap = 0.3
    server.upstream.behaviour.chunks = ["one", " two", " three", " four", " five", " six"]
    async with server.client(WRITER_KEY) as client:
        async with client.stream("POST", "/completion-messages", json=body(mode="streaming")) as response:
            stream = OpenStream(response)
            first = await stream.first_event()
            intruder = await client.post(
                f"/completion-messages/{first['task_id']}/stop", json={"user": "intruder"}
            )
            stop = await client.post(f"/completion-messages/{first['task_id']}/stop", json={"user": "u1"})
            rest = await stream.rest()
        unknown = await client.post(f"/completion-messages/{random_id()}/stop", json={"user": "u1"})
        no_user = await client.post(f"/completion-messages/{first['task_id']}/stop", json={})
    assert intruder.json() == stop.json() == unknown.json() == {"result": "success"}
    assert_error(no_user, 400, "invalid_param", "Arg user must be provided.")
    frames = parse_frames(rest)
    assert frames[-1].event == "message_end"
    async with database(server) as engine, engine.connect() as conn:
        row = (await conn.execute(sa.select(messages).where(messages.c.id == first["message_id"]))).one()
    assert row.answer.startswith("one") and "six" not in row.answer
    assert row.status == "stopped"  # shown as "normal", as Dify does
    record = server.upstream.chat_requests(stream=True)[0]
    for _ in range(40):
        if record.disconnected:
            break
        await asyncio.sleep(0.05)
    assert record.disconnected and not record.finished, "the upstream call was cancelled"


async def test_a_model_failure_is_a_json_error_in_blocking_mode(server: RunningServer) -> None:
    server.upstream.behaviour.status = 500
    async with server.client(WRITER_KEY) as client:
        response = await client.post("/completion-messages", json=body())
    assert_error(response, 400, "completion_request_error")


async def test_a_completion_app_as_an_mcp_server_takes_its_form_and_completes(server: RunningServer) -> None:
    async def rpc(method: str, params: dict[str, Any]) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(
                f"{server.base_url}/mcp/server/{MCP_CODE}/mcp",
                json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                headers={"Authorization": f"Bearer {WRITER_KEY}"},
            )
        assert response.status_code == 200, response.text
        reply: dict[str, Any] = response.json()
        return reply

    (tool,) = (await rpc("tools/list", {}))["result"]["tools"]
    # Dify's completion tool: the form only (here its default `query` paragraph), no conversation.
    assert tool["inputSchema"] == {
        "type": "object",
        "properties": {"query": {"description": "", "type": "string"}},
        "required": ["query"],
    }
    called = (await rpc("tools/call", {"name": "Writer", "arguments": {"query": "a haiku"}}))["result"]
    assert called["content"] == [{"type": "text", "text": FAKE_ANSWER}] and called["isError"] is False
    assert list(called["_meta"]) == ["message_id"]
    assert prompt_sent(server.upstream) == [{"role": "user", "content": "a haiku"}]
    refused = await rpc("tools/call", {"name": "Writer", "arguments": {}})
    assert refused["error"] == {"code": -32602, "message": "query is required in input form"}
