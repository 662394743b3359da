"""Agent chat through the server: POST /chat-messages for agent apps against a fake model that
calls tools (scripted rounds over loopback HTTP), with real built-in tools, on SQLite and PostgreSQL.

What each test proves is in its name; the wire shapes are the agent contract's (§6, §9).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiohttp import web

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.upstream import FakeUpstream, Round, ScriptedCall
from tests.integration.conftest import RunningServer, ServerFactory
from tests.sse import Frame, parse_frames

pytestmark = pytest.mark.anyio

TOOLS_KEY = "app-agenttoolsagenttools0001"
CHAT_AGENT_KEY = "app-chatagentchatagent000001"
REACT_KEY = "app-reactreactreactreact0001"
CLAUDE_KEY = "app-claudeagentclaudeagent01"
BLOCKING_CALLS_KEY = "app-blockingcallsblocking001"
ONE_ROUND_KEY = "app-oneroundoneroundone00001"

CURRENT_TIME_LABELS = {"zh_Hans": "获取当前时间", "en_US": "Current Time", "pt_BR": "Current Time", "ja_JP": "Current Time"}
THOUGHT_KEYS = [
    "event",
    "conversation_id",
    "message_id",
    "created_at",
    "task_id",
    "id",
    "position",
    "thought",
    "observation",
    "tool",
    "tool_labels",
    "tool_input",
    "message_files",
]
HISTORY_THOUGHT_KEYS = [
    "id",
    "chain_id",
    "message_id",
    "position",
    "thought",
    "tool",
    "tool_labels",
    "tool_input",
    "created_at",
    "observation",
    "files",
]
TIME_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
MAX_ITERATION_TEXT = (
    "Agent exceeded the maximum iteration limit of 1. "
    "The agent was unable to complete the task within the allowed number of iterations."
)

TIME_TOOL = {
    "enabled": True,
    "isDeleted": False,
    "notAuthor": False,
    "provider_id": "time",
    "provider_name": "time",
    "provider_type": "builtin",
    "tool_label": "Current Time",
    "tool_name": "current_time",
    "tool_parameters": {"format": "", "timezone": "UTC"},
}
CALCULATOR = {
    "enabled": True,
    "provider_type": "builtin",
    "provider_id": "langgenius/calculator/calculator",
    "tool_name": "calculator",
    "tool_parameters": {},
}
WEBSCRAPER = {
    "enabled": True,
    "provider_type": "builtin",
    "provider_id": "webscraper",
    "tool_name": "webscraper",
    "tool_parameters": {},
}


@pytest.fixture(scope="module")
def anthropic_server() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic().start()
    yield server
    server.stop()


@pytest.fixture
def anthropic(anthropic_server: FakeAnthropic) -> FakeAnthropic:
    anthropic_server.reset()
    return anthropic_server


def agent_apps(upstream: FakeUpstream, anthropic: FakeAnthropic) -> dict[str, Any]:
    model = {"provider": "openai", "name": "fake-model", "base_url": upstream.base_url, "api_key": "sk-test"}
    tools = [TIME_TOOL, CALCULATOR, WEBSCRAPER]
    return {
        "apps": [
            {
                "name": "Agent Tools",
                "mode": "agent-chat",
                "api_keys": [TOOLS_KEY],
                "model": {**model, "pricing": {"input": "1", "output": "2", "unit": "0.001"}},
                "pre_prompt": "You are a careful assistant.",
                "agent_mode": {"enabled": True, "strategy": "function_call", "max_iteration": 3, "tools": tools},
            },
            {
                "name": "Chat With Agent Mode",
                "mode": "chat",
                "api_keys": [CHAT_AGENT_KEY],
                "model": model,
                "agent_mode": {"enabled": True, "strategy": "function_call", "tools": [TIME_TOOL]},
            },
            {
                "name": "One Round",
                "mode": "agent-chat",
                "api_keys": [ONE_ROUND_KEY],
                "model": model,
                "agent_mode": {"max_iteration": 1, "tools": [TIME_TOOL]},
            },
            {
                "name": "ReAct",
                "mode": "agent-chat",
                "api_keys": [REACT_KEY],
                "model": {**model, "capabilities": {"tool_call": False}},
                "pre_prompt": "Answer about time.",
                "agent_mode": {"enabled": True, "strategy": "react", "tools": [TIME_TOOL, CALCULATOR]},
            },
            {
                "name": "Claude Agent",
                "mode": "agent-chat",
                "api_keys": [CLAUDE_KEY],
                "model": {"provider": "anthropic", "name": "claude-test", "base_url": anthropic.base_url,
                          "api_key": "sk-ant"},
                "agent_mode": {"tools": [TIME_TOOL]},
            },
            {
                "name": "Blocking Calls",
                "mode": "agent-chat",
                "api_keys": [BLOCKING_CALLS_KEY],
                "model": {**model, "capabilities": {"stream_tool_call": False}},
                "agent_mode": {"tools": [TIME_TOOL]},
            },
        ]
    }


@pytest.fixture
async def server(
    make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream, anthropic: FakeAnthropic
) -> RunningServer:
    (tmp_path / "apps.yaml").write_text(yaml.safe_dump(agent_apps(upstream, anthropic), allow_unicode=True))
    return await make_server(remote_fetch_allow="127.0.0.1", tool_timeout=5)


def body(query: str = "what time is it?", mode: str = "streaming", **extra: Any) -> dict[str, Any]:
    return {"inputs": {}, "query": query, "user": "u1", "response_mode": mode, "auto_generate_name": False, **extra}


async def stream(client: httpx.AsyncClient, payload: dict[str, Any]) -> list[dict[str, Any]]:
    async with client.stream("POST", "/chat-messages", json=payload) as response:
        raw = await response.aread()
    assert response.status_code == 200, raw
    return [frame.data for frame in parse_frames(raw) if frame.data is not None]


async def history(client: httpx.AsyncClient, conversation_id: str) -> list[dict[str, Any]]:
    response = await client.get("/messages", params={"user": "u1", "conversation_id": conversation_id})
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [str(e["event"]) for e in events]


def time_rounds() -> list[Round]:
    return [Round(calls=[ScriptedCall("current_time", "{}")]), Round(chunks=["It is ", "12:00 UTC."])]


async def test_one_tool_round_streams_three_thoughts_then_the_answer_round(server: RunningServer) -> None:
    server.upstream.behaviour.rounds = time_rounds()
    async with server.client(TOOLS_KEY) as client:
        events = await stream(client, body())
        assert kinds(events) == [
            "agent_thought",  # round 1: the empty row, on the first chunk
            "agent_thought",  # round 1: the call
            "agent_thought",  # round 1: the observation
            "agent_thought",  # round 2: the empty row
            "agent_message",
            "agent_message",
            "agent_thought",  # round 2: its text
            "message_end",
        ]
        for event in events[:4] + events[6:7]:
            assert list(event) == THOUGHT_KEYS
        first, called, observed, second, delta, _, answered, end = events
        assert first["id"] == called["id"] == observed["id"] != second["id"] == answered["id"]
        assert [first["position"], second["position"]] == [1, 2]
        assert (first["thought"], first["tool"], first["tool_input"], first["tool_labels"]) == ("", "", "", {})
        assert called["tool"] == "current_time" and called["observation"] == ""
        assert called["tool_input"] == '{"current_time": {}}'
        assert called["tool_labels"] == {"current_time": CURRENT_TIME_LABELS}
        observation = json.loads(observed["observation"])
        assert list(observation) == ["current_time"] and TIME_TEXT.match(observation["current_time"])
        assert observed["observation"].startswith('{"current_time": "')  # ", "/": " separators
        assert observed["message_files"] == []
        assert delta == {
            "event": "agent_message",
            "conversation_id": delta["conversation_id"],
            "message_id": delta["message_id"],
            "created_at": delta["created_at"],
            "task_id": delta["task_id"],
            "id": delta["message_id"],
            "answer": "It is ",
        }
        assert answered["thought"] == "It is 12:00 UTC." and answered["tool"] == ""
        usage = end["metadata"]["usage"]
        assert (usage["prompt_tokens"], usage["completion_tokens"]) == (22, 10)  # two rounds of 11 + 5
        assert usage["prompt_unit_price"] == "1" and usage["total_price"] == "0.0420000"
        rows = await history(client, end["conversation_id"])
    (message,) = rows
    assert message["answer"] == "It is 12:00 UTC."
    assert [list(t) for t in message["agent_thoughts"]] == [HISTORY_THOUGHT_KEYS] * 2
    stored_first, stored_second = message["agent_thoughts"]
    assert stored_first["id"] == first["id"] and stored_first["chain_id"] is None
    assert stored_first["tool"] == "current_time" and stored_first["observation"] == observed["observation"]
    assert stored_first["tool_labels"] == {"current_time": CURRENT_TIME_LABELS} and stored_first["files"] == []
    assert stored_second["thought"] == "It is 12:00 UTC." and stored_second["position"] == 2

    offered, answered_with = (r.body for r in server.upstream.requests)
    assert offered["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "current_time",
                "description": "Get the current date and time.",
                "parameters": {"type": "object", "properties": {}, "required": []},
            },
        },
        offered["tools"][1],
        offered["tools"][2],
    ]
    assert [m["role"] for m in answered_with["messages"]] == ["system", "user", "assistant", "tool"]
    call = answered_with["messages"][2]["tool_calls"][0]
    assert call["function"] == {"name": "current_time", "arguments": "{}"}
    assert answered_with["messages"][3] == {
        "role": "tool",
        "tool_call_id": call["id"],
        "content": observation["current_time"],
    }
