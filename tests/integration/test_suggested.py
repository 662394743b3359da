"""GET /messages/{message_id}/suggested."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.fakes.upstream import FakeUpstream
from tests.integration.conftest import PLAIN_KEY, RunningServer, ServerFactory, apps_file
from tests.integration.helpers import assert_error, chat, random_id

pytestmark = pytest.mark.anyio

SUGGEST_KEY = "app-suggestsuggestsuggest01"
SUGGEST_OTHER_KEY = "app-suggestothersuggestot01"


@pytest.fixture
async def server(make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream) -> RunningServer:
    data = apps_file(upstream)
    model = {
        "provider": "openai",
        "name": "suggest-model",
        "base_url": upstream.base_url,
        "api_key": "sk-test",
    }
    data["apps"] += [
        {
            "name": "Suggest",
            "api_keys": [SUGGEST_KEY],
            "model": model,
            "suggested_questions_after_answer": True,
        },
        {
            "name": "Suggest 2",
            "api_keys": [SUGGEST_OTHER_KEY],
            "model": model,
            "suggested_questions_after_answer": {"enabled": True},
        },
    ]
    (tmp_path / "apps.yaml").write_text(yaml.safe_dump(data))
    return await make_server()


async def test_suggestions_from_the_model(server: RunningServer) -> None:
    async with server.client(SUGGEST_KEY) as client:
        first = await chat(client, "u1", "What is my order status?", auto_generate_name=False)
        conversation_id = first["conversation_id"]
        server.upstream.behaviour.chunks = ["It ships tomorrow."]
        second = await chat(client, "u1", "When will it ship?", conversation_id=conversation_id)
        server.upstream.reset()
        server.upstream.behaviour.completion = (
            "Sure! Here are three questions:\n"
            '["Can I track it?", 42, "Can I cancel?", "Ship faster?"]\n'
            "Hope it helps."
        )
        response = await client.get(f"/messages/{second['message_id']}/suggested", params={"user": "u1"})
    assert response.status_code == 200
    assert response.json() == {
        "result": "success",
        "data": ["Can I track it?", "Can I cancel?", "Ship faster?"],
    }
    (request,) = server.upstream.chat_requests(stream=False)
    body = request.body
    assert body["model"] == "suggest-model"
    assert body["temperature"] == 0 and body["max_tokens"] == 256
    prompt = "\n".join(m["content"] for m in body["messages"])
    assert "Human: What is my order status?\nAssistant: Hello from the fake model." in prompt
    assert "Human: When will it ship?\nAssistant: It ships tomorrow." in prompt
    assert "JSON array" in prompt


async def test_history_is_the_last_three_turns_up_to_the_message(server: RunningServer) -> None:
    async with server.client(SUGGEST_KEY) as client:
        conversation_id = (await chat(client, "u1", "turn 1", auto_generate_name=False))["conversation_id"]
        ids = []
        for n in range(2, 6):
            ids.append((await chat(client, "u1", f"turn {n}", conversation_id=conversation_id))["message_id"])
        server.upstream.reset()
        server.upstream.behaviour.completion = '["a"]'
        response = await client.get(f"/messages/{ids[2]}/suggested", params={"user": "u1"})  # turn 4
    assert response.json()["data"] == ["a"]
    prompt = server.upstream.chat_requests(stream=False)[0].body["messages"][-1]["content"]
    assert "Human: turn 1" not in prompt and "Human: turn 5" not in prompt
    assert prompt.index("Human: turn 2") < prompt.index("Human: turn 3") < prompt.index("Human: turn 4")


@pytest.mark.parametrize(
    "completion",
    ["I cannot help with that.", "[not json", '{"questions": "none"}', "[1, 2, 3]", ""],
)
async def test_unusable_replies_give_no_suggestions(server: RunningServer, completion: str) -> None:
    async with server.client(SUGGEST_KEY) as client:
        message_id = (await chat(client, "u1"))["message_id"]
        server.upstream.behaviour.completion = completion
        response = await client.get(f"/messages/{message_id}/suggested", params={"user": "u1"})
    assert response.status_code == 200
    assert response.json() == {"result": "success", "data": []}


async def test_model_failure_gives_an_empty_list(server: RunningServer) -> None:
    async with server.client(SUGGEST_KEY) as client:
        message_id = (await chat(client, "u1"))["message_id"]
        server.upstream.behaviour.status = 500
        response = await client.get(f"/messages/{message_id}/suggested", params={"user": "u1"})
    assert response.status_code == 200
    assert response.json() == {"result": "success", "data": []}


async def test_disabled_feature_is_a_bad_request(server: RunningServer) -> None:
    async with server.client(PLAIN_KEY) as client:
        # No title call either: nothing may reach the model after the reset.
        message_id = (await chat(client, "u1", auto_generate_name=False))["message_id"]
        server.upstream.reset()
        response = await client.get(f"/messages/{message_id}/suggested", params={"user": "u1"})
    assert_error(response, 400, "bad_request", "Suggested Questions Is Disabled.")
    assert server.upstream.chat_requests(stream=False) == []


@pytest.mark.parametrize("params", [{}, {"user": ""}])
async def test_user_is_required(server: RunningServer, params: dict[str, str]) -> None:
    async with server.client(SUGGEST_KEY) as client:
        response = await client.get(f"/messages/{random_id()}/suggested", params=params)
    assert_error(response, 400, "invalid_param", "Arg user must be provided.")


@pytest.mark.parametrize("case", ["unknown", "malformed", "other-user", "other-app", "never-seen-user"])
async def test_message_not_owned_is_not_found(server: RunningServer, case: str) -> None:
    async with server.client(SUGGEST_KEY) as client:
        mine = (await chat(client, "u1"))["message_id"]
    async with server.client(SUGGEST_OTHER_KEY) as client:
        foreign = (await chat(client, "u1"))["message_id"]
    message_id, user = {
        "unknown": (random_id(), "u1"),
        "malformed": ("nope", "u1"),
        "other-user": (mine, "u2"),
        "other-app": (foreign, "u1"),
        "never-seen-user": (mine, "nobody"),
    }[case]
    if case == "other-user":
        async with server.client(SUGGEST_KEY) as client:
            await chat(client, "u2")
    async with server.client(SUGGEST_KEY) as client:
        response = await client.get(f"/messages/{message_id}/suggested", params={"user": user})
    assert_error(response, 404, "not_found", "Message Not Exists.")
