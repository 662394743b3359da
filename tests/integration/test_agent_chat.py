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
from tests.sse import parse_frames

pytestmark = pytest.mark.anyio

TOOLS_KEY = "app-agenttoolsagenttools0001"
CHAT_AGENT_KEY = "app-chatagentchatagent000001"
REACT_KEY = "app-reactreactreactreact0001"
CLAUDE_KEY = "app-claudeagentclaudeagent01"
BLOCKING_CALLS_KEY = "app-blockingcallsblocking001"
ONE_ROUND_KEY = "app-oneroundoneroundone00001"

CURRENT_TIME_LABELS = {
    "zh_Hans": "获取当前时间",
    "en_US": "Current Time",
    "pt_BR": "Current Time",
    "ja_JP": "Current Time",
}
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


PNG = b"\x89PNG\r\n\x1a\n" + b"fake image bytes" * 8


class ToolApi:
    """A small HTTP API the agent's OpenAPI tools call: a chart (a PNG), a hang, a huge text."""

    def __init__(self) -> None:
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.calls: list[str] = []
        self.released = asyncio.Event()

    async def start(self) -> ToolApi:
        app = web.Application()
        app.router.add_get("/chart", self._chart)
        app.router.add_get("/slow", self._slow)
        app.router.add_get("/huge", self._huge)
        app.router.add_get("/cat.png", self._cat)
        self.runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        self.released.set()
        if self.runner is not None:
            await self.runner.cleanup()

    async def _chart(self, request: web.Request) -> web.Response:
        self.calls.append(f"chart {request.query.get('title', '')}")
        return web.Response(body=PNG, content_type="image/png")

    async def _cat(self, request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def _slow(self, request: web.Request) -> web.Response:
        self.calls.append("slow")
        # Until released, or until the caller hangs up (aiohttp does not cancel the handler for it).
        while not self.released.is_set():
            if request.transport is None or request.transport.is_closing():
                self.calls.append("slow closed")
                break
            await asyncio.sleep(0.02)
        return web.Response(text="late")

    async def _huge(self, request: web.Request) -> web.Response:
        return web.Response(text="x" * (3 * 1024 * 1024), content_type="text/plain")

    def document(self) -> str:
        def get(
            operation: str, summary: str, parameters: list[dict[str, Any]] | None = None
        ) -> dict[str, Any]:
            return {
                "get": {
                    "operationId": operation,
                    "summary": summary,
                    "parameters": parameters or [],
                    "responses": {"200": {"description": "ok"}},
                }
            }

        title = {"name": "title", "in": "query", "required": False, "schema": {"type": "string"}}
        return json.dumps(
            {
                "openapi": "3.0.0",
                "info": {"title": "Tool API", "version": "1"},
                "servers": [{"url": f"http://127.0.0.1:{self.port}"}],
                "paths": {
                    "/chart": get("draw_chart", "Draw a chart", [title]),
                    "/slow": get("slow_lookup", "A lookup that takes its time"),
                    "/huge": get("huge_report", "A very long report"),
                },
            }
        )


def api_tool(name: str) -> dict[str, Any]:
    return {
        "enabled": True,
        "provider_type": "api",
        "provider_id": "toolapi",
        "tool_name": name,
        "tool_parameters": {},
    }


@pytest.fixture
async def tool_api() -> AsyncIterator[ToolApi]:
    api = await ToolApi().start()
    yield api
    await api.stop()


@pytest.fixture(scope="module")
def anthropic_server() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic().start()
    yield server
    server.stop()


@pytest.fixture
def anthropic(anthropic_server: FakeAnthropic) -> FakeAnthropic:
    anthropic_server.reset()
    return anthropic_server


def agent_apps(upstream: FakeUpstream, anthropic: FakeAnthropic, api: ToolApi) -> dict[str, Any]:
    model = {"provider": "openai", "name": "fake-model", "base_url": upstream.base_url, "api_key": "sk-test"}
    tools = [TIME_TOOL, CALCULATOR, WEBSCRAPER]
    api_tools = [api_tool("draw_chart"), api_tool("slow_lookup"), api_tool("huge_report")]
    return {
        "apps": [
            {
                "name": "Agent Tools",
                "mode": "agent-chat",
                "api_keys": [TOOLS_KEY],
                "model": {**model, "pricing": {"input": "1", "output": "2", "unit": "0.001"}},
                "pre_prompt": "You are a careful assistant.",
                "agent_mode": {
                    "enabled": True,
                    "strategy": "function_call",
                    "max_iteration": 3,
                    "tools": tools + api_tools,
                },
                "openapi_tools": [{"name": "toolapi", "openapi": api.document()}],
                "file_upload": {
                    "enabled": True,
                    "allowed_file_types": ["image"],
                    "allowed_file_upload_methods": ["remote_url"],
                    "number_limits": 1,
                },
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
                "model": {
                    "provider": "anthropic",
                    "name": "claude-test",
                    "base_url": anthropic.base_url,
                    "api_key": "sk-ant",
                },
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
    make_server: ServerFactory,
    tmp_path: Path,
    upstream: FakeUpstream,
    anthropic: FakeAnthropic,
    tool_api: ToolApi,
) -> RunningServer:
    apps = agent_apps(upstream, anthropic, tool_api)
    (tmp_path / "apps.yaml").write_text(yaml.safe_dump(apps, allow_unicode=True))
    return await make_server(remote_fetch_allow="127.0.0.1", tool_timeout=5, tool_max_output_bytes=64 * 1024)


def body(query: str = "what time is it?", mode: str = "streaming", **extra: Any) -> dict[str, Any]:
    return {
        "inputs": {},
        "query": query,
        "user": "u1",
        "response_mode": mode,
        "auto_generate_name": False,
        **extra,
    }


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


def runs(events: list[dict[str, Any]]) -> list[str]:
    """The event kinds with each run of text deltas as one ``agent_message``."""
    out: list[str] = []
    for kind in kinds(events):
        if not (kind == "agent_message" and out and out[-1] == kind):
            out.append(kind)
    return out


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
        assert (first["thought"], first["tool"], first["tool_input"], first["tool_labels"]) == (
            "",
            "",
            "",
            {},
        )
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
    assert (
        stored_first["tool_labels"] == {"current_time": CURRENT_TIME_LABELS} and stored_first["files"] == []
    )
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
        *offered["tools"][1:],
    ]
    assert [t["function"]["name"] for t in offered["tools"]] == [
        "current_time",
        "calculator",
        "webscraper",
        "draw_chart",
        "slow_lookup",
        "huge_report",
    ]
    assert [m["role"] for m in answered_with["messages"]] == ["system", "user", "assistant", "tool"]
    call = answered_with["messages"][2]["tool_calls"][0]
    assert call["function"] == {"name": "current_time", "arguments": "{}"}
    assert answered_with["messages"][3] == {
        "role": "tool",
        "tool_call_id": call["id"],
        "content": observation["current_time"],
    }


async def test_later_turns_replay_each_call_and_result_into_the_prompt(server: RunningServer) -> None:
    server.upstream.behaviour.rounds = [
        Round(
            chunks=["Checking both."],
            calls=[
                ScriptedCall("calculator", '{"expression": "6 * 7"}', id="call_a"),
                ScriptedCall("calculator", '{"expression": "1 + 1"}', id="call_b"),
            ],
        ),
        Round(chunks=["42 and 2."]),
        Round(chunks=["Still 42."]),
    ]
    async with server.client(TOOLS_KEY) as client:
        first = await stream(client, body("compute"))
        conversation_id = first[-1]["conversation_id"]
        called = next(e for e in first if e["event"] == "agent_thought" and e["observation"])
        # Two calls of one tool: the wire strings keep the last of each name (as Dify's do).
        assert called["tool"] == "calculator;calculator"
        assert called["tool_input"] == '{"calculator": {"expression": "1 + 1"}}'
        assert called["observation"] == '{"calculator": "2"}'
        await stream(client, body("and again?", conversation_id=conversation_id))
    replayed = server.upstream.requests[-1].body["messages"]
    assert replayed == [
        {"role": "system", "content": "You are a careful assistant."},
        {"role": "user", "content": "compute"},
        {
            "role": "assistant",
            "content": "Checking both.",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "calculator", "arguments": '{"expression": "6 * 7"}'},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "calculator", "arguments": '{"expression": "1 + 1"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "42"},
        {"role": "tool", "tool_call_id": "call_b", "content": "2"},
        {"role": "assistant", "content": "42 and 2."},
        {"role": "user", "content": "and again?"},
    ]


async def test_blocking_mode_runs_the_loop_and_answers_with_the_stored_answer(server: RunningServer) -> None:
    server.upstream.behaviour.rounds = [
        Round(chunks=["Let me check."], calls=[ScriptedCall("current_time", "{}")]),
        Round(chunks=["It is noon."]),
    ]
    async with server.client(TOOLS_KEY) as client:
        response = await client.post("/chat-messages", json=body(mode="blocking"))
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["mode"] == "agent-chat"
        # Every round's text, each followed by a newline, trimmed.
        assert answer["answer"] == "Let me check.\nIt is noon."
        rows = await history(client, answer["conversation_id"])
    assert rows[0]["answer"] == answer["answer"]
    assert [t["thought"] for t in rows[0]["agent_thoughts"]] == ["Let me check.", "It is noon."]


async def test_past_max_iteration_the_answer_fails_with_invalid_param(server: RunningServer) -> None:
    # max_iteration 1: round 1 may call tools, round 2 offers none; a call there is the error.
    server.upstream.behaviour.rounds = [
        Round(calls=[ScriptedCall("current_time", "{}")]),
        Round(chunks=["again"], calls=[ScriptedCall("current_time", "{}")]),
    ]
    async with server.client(ONE_ROUND_KEY) as client:
        events = await stream(client, body())
        assert kinds(events)[-1] == "error"
        assert events[-1] == {
            "event": "error",
            "conversation_id": events[0]["conversation_id"],
            "message_id": events[0]["message_id"],
            "created_at": events[0]["created_at"],
            "code": "invalid_param",
            "status": 400,
            "message": MAX_ITERATION_TEXT,
        }
        rows = await history(client, events[0]["conversation_id"])
    assert rows[0]["status"] == "error" and rows[0]["error"] == MAX_ITERATION_TEXT
    assert [t["tool"] for t in rows[0]["agent_thoughts"]] == ["current_time", "current_time"]
    assert "tools" not in server.upstream.requests[1].body


async def test_bad_calls_become_observations_and_the_loop_goes_on(server: RunningServer) -> None:
    server.upstream.behaviour.rounds = [
        Round(
            calls=[
                ScriptedCall("calculator", '{"expression": "6 *', id="broken"),
                ScriptedCall("no_such_tool", "{}", id="unknown"),
            ]
        ),
        Round(calls=[ScriptedCall("calculator", '{"expression": "1 / 0"}')]),
        Round(chunks=["Sorry."]),
    ]
    async with server.client(TOOLS_KEY) as client:
        events = await stream(client, body())
    observed = [e for e in events if e["event"] == "agent_thought" and e["observation"]]
    first = json.loads(observed[0]["observation"])
    assert first["calculator"].startswith("tool parameters validation error: Unterminated string")
    assert first["calculator"].endswith(", please check your tool parameters")
    assert first["no_such_tool"] == "there is not a tool named no_such_tool"
    # The arguments as the model wrote them, when they are not JSON.
    assert json.loads(observed[0]["tool_input"])["calculator"] == '{"expression": "6 *'
    assert json.loads(observed[1]["observation"])["calculator"].startswith("tool invoke error: ")
    assert events[-1]["event"] == "message_end"
    results = [m for m in server.upstream.requests[1].body["messages"] if m["role"] == "tool"]
    assert [r["tool_call_id"] for r in results] == ["broken", "unknown"]


async def test_tool_files_are_stored_streamed_shown_and_served_signed(
    server: RunningServer, tool_api: ToolApi
) -> None:
    server.upstream.behaviour.rounds = [
        Round(calls=[ScriptedCall("draw_chart", '{"title": "sales"}')]),
        Round(chunks=["Here is the chart."]),
    ]
    async with server.client(TOOLS_KEY) as client:
        events = await stream(client, body("draw"))
        assert kinds(events)[:5] == [
            "agent_thought",
            "agent_thought",
            "message_file",
            "agent_thought",
            "agent_thought",
        ]
        produced, observed = events[2], events[3]
        assert list(produced) == [
            "event",
            "conversation_id",
            "message_id",
            "created_at",
            "task_id",
            "id",
            "type",
            "belongs_to",
            "url",
        ]
        assert (produced["type"], produced["belongs_to"]) == ("image", "assistant")
        assert re.match(
            r"^/files/tools/[0-9a-f-]{36}\.png\?timestamp=\d+&nonce=[0-9a-f]{32}&sign=", produced["url"]
        )
        assert observed["message_files"] == [produced["id"]]
        assert json.loads(observed["observation"])["draw_chart"].startswith("image has been created")
        assert tool_api.calls == ["chart sales"]

        async with httpx.AsyncClient(base_url=server.base_url) as raw:
            fetched = await raw.get(produced["url"])
            assert fetched.status_code == 200 and fetched.content == PNG
            assert fetched.headers["content-type"] == "image/png"
            assert fetched.headers["content-length"] == str(len(PNG))
            download = await raw.get(produced["url"] + "&as_attachment=true")
            assert download.headers["content-disposition"].startswith("attachment; filename*=UTF-8''")
            forged = await raw.get(produced["url"].replace("sign=", "sign=x"))
            assert (forged.status_code, forged.json()["code"], forged.json()["message"]) == (
                403,
                "forbidden",
                "Invalid request.",
            )

        rows = await history(client, events[-1]["conversation_id"])
        (item,) = rows[0]["message_files"]
        assert item["id"] == produced["id"] and item["belongs_to"] == "assistant"
        assert (item["transfer_method"], item["type"], item["mime_type"]) == (
            "tool_file",
            "image",
            "image/png",
        )
        assert item["size"] == len(PNG) and item["url"].startswith(
            f"/files/tools/{item['upload_file_id']}.png?"
        )
        assert rows[0]["agent_thoughts"][0]["files"] == [produced["id"]]
        async with httpx.AsyncClient(base_url=server.base_url) as raw:
            again = await raw.get(item["url"])
            assert again.status_code == 200 and again.content == PNG
            signer_url = item["url"].replace(item["upload_file_id"], "00000000-0000-4000-8000-000000000000")
            unknown = await raw.get(signer_url)
            assert unknown.status_code == 403  # the signature covers the id


async def test_an_unknown_tool_file_is_415(server: RunningServer) -> None:
    from difychat.server.files.signing import UrlSigner

    signer = UrlSigner(server.settings.resolved_secret_key(), "")
    url = signer.tool_url("00000000-0000-4000-8000-000000000000", ".png")
    async with httpx.AsyncClient(base_url=server.base_url) as raw:
        response = await raw.get(url)
    assert response.status_code == 415 and response.json()["code"] == "unsupported_file_type"


async def test_a_huge_tool_answer_is_cut_to_the_output_limit(server: RunningServer) -> None:
    server.upstream.behaviour.rounds = [
        Round(calls=[ScriptedCall("huge_report", "{}")]),
        Round(chunks=["Long."]),
    ]
    async with server.client(TOOLS_KEY) as client:
        events = await stream(client, body())
    observed = next(e for e in events if e["event"] == "agent_thought" and e["observation"])
    text = json.loads(observed["observation"])["huge_report"]
    assert len(text.encode()) <= 64 * 1024 and text.startswith("xxx")
    sent = [m for m in server.upstream.requests[1].body["messages"] if m["role"] == "tool"][0]["content"]
    assert sent == text


async def test_a_tool_past_its_time_limit_is_an_observation(
    make_server: ServerFactory,
    tmp_path: Path,
    upstream: FakeUpstream,
    anthropic: FakeAnthropic,
    tool_api: ToolApi,
) -> None:
    apps = agent_apps(upstream, anthropic, tool_api)
    (tmp_path / "apps.yaml").write_text(yaml.safe_dump(apps, allow_unicode=True))
    server = await make_server(remote_fetch_allow="127.0.0.1", tool_timeout=0.3)
    upstream.behaviour.rounds = [Round(calls=[ScriptedCall("slow_lookup", "{}")]), Round(chunks=["Gave up."])]
    async with server.client(TOOLS_KEY) as client:
        events = await stream(client, body())
    observed = next(e for e in events if e["event"] == "agent_thought" and e["observation"])
    assert json.loads(observed["observation"])["slow_lookup"].startswith("tool invoke error: ")
    assert events[-1]["event"] == "message_end"


async def stream_until(
    client: httpx.AsyncClient, payload: dict[str, Any], until: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], float]:
    """Stream until ``until(events)`` holds, stop the answer, read the rest; the stop's latency."""
    seen: list[dict[str, Any]] = []
    async with client.stream("POST", "/chat-messages", json=payload) as response:
        buffer = b""
        chunks = response.aiter_bytes()
        async for chunk in chunks:
            buffer += chunk
            while b"\n\n" in buffer:
                head, _, buffer = buffer.partition(b"\n\n")
                if head.startswith(b"data: "):
                    seen.append(json.loads(head[6:]))
            if until(seen):
                break
        loop = asyncio.get_running_loop()
        asked = loop.time()
        stop = await client.post(f"/chat-messages/{seen[0]['task_id']}/stop", json={"user": "u1"})
        assert stop.status_code == 200
        async for chunk in chunks:
            buffer += chunk
        elapsed = loop.time() - asked
    rest = [frame.data for frame in parse_frames(buffer) if frame.data is not None] if buffer else []
    return seen, rest, elapsed


async def test_stop_mid_model_ends_with_message_end_and_keeps_the_partial_round(
    server: RunningServer,
) -> None:
    server.upstream.behaviour.rounds = [
        Round(calls=[ScriptedCall("current_time", "{}")]),
        Round(chunks=["It is ", "almost"], hang=True),
    ]
    async with server.client(TOOLS_KEY) as client:
        seen, rest, elapsed = await stream_until(
            client, body(), lambda events: any(e.get("answer") == "almost" for e in events)
        )
        assert [e["event"] for e in rest] == ["message_end"]
        assert elapsed < 5.0, elapsed  # the model hangs, the tool waits: only the stop ends it
        rows = await history(client, seen[0]["conversation_id"])
    assert rows[0]["answer"] == "It is almost" and rows[0]["status"] == "normal"
    assert [t["thought"] for t in rows[0]["agent_thoughts"]] == ["", "It is almost"]
    record = server.upstream.requests[-1]
    for _ in range(40):
        if record.disconnected:
            break
        await asyncio.sleep(0.05)
    assert record.disconnected and not record.finished, "the model call was cancelled"


async def test_stop_mid_tool_cancels_the_call_and_keeps_the_thoughts(
    server: RunningServer, tool_api: ToolApi
) -> None:
    server.upstream.behaviour.rounds = [
        Round(chunks=["Looking it up."], calls=[ScriptedCall("slow_lookup", "{}")])
    ]
    async with server.client(TOOLS_KEY) as client:
        seen, rest, elapsed = await stream_until(
            client, body(), lambda events: any(e.get("tool") == "slow_lookup" for e in events)
        )
        for _ in range(40):
            if "slow" in tool_api.calls:
                break
            await asyncio.sleep(0.02)
        assert [e["event"] for e in rest] == ["message_end"]
        assert elapsed < 5.0, elapsed  # the model hangs, the tool waits: only the stop ends it
        rows = await history(client, seen[0]["conversation_id"])
    (thought,) = rows[0]["agent_thoughts"]
    assert (thought["thought"], thought["tool"], thought["observation"]) == (
        "Looking it up.",
        "slow_lookup",
        "",
    )
    assert rows[0]["answer"] == "Looking it up."
    for _ in range(40):
        if "slow closed" in tool_api.calls:
            break
        await asyncio.sleep(0.05)
    assert "slow closed" in tool_api.calls, "the tool's request was closed"


async def test_anthropic_models_call_tools_with_tool_use_blocks(
    server: RunningServer, anthropic: FakeAnthropic
) -> None:
    anthropic.behaviour.rounds = time_rounds()
    async with server.client(CLAUDE_KEY) as client:
        events = await stream(client, body())
    assert kinds(events) == ["agent_thought"] * 4 + ["agent_message"] * 2 + ["agent_thought", "message_end"]
    assert events[1]["tool_input"] == '{"current_time": {}}'
    first, second = (r.body for r in anthropic.requests)
    assert first["tools"][0]["name"] == "current_time"
    assert first["tools"][0]["input_schema"] == {"type": "object", "properties": {}, "required": []}
    assistant, results = second["messages"][1:3]
    assert assistant["role"] == "assistant" and assistant["content"][0]["type"] == "tool_use"
    assert assistant["content"][0]["name"] == "current_time" and assistant["content"][0]["input"] == {}
    assert results["role"] == "user" and results["content"][0]["type"] == "tool_result"
    assert results["content"][0]["tool_use_id"] == assistant["content"][0]["id"]
    assert events[-1]["metadata"]["usage"]["prompt_tokens"] == 22


async def test_models_without_streamed_calls_answer_each_round_in_one_delta(server: RunningServer) -> None:
    server.upstream.behaviour.rounds = [
        Round(chunks=["Let me ", "see."], calls=[ScriptedCall("current_time", "{}")]),
        Round(chunks=["It is ", "noon."]),
    ]
    async with server.client(BLOCKING_CALLS_KEY) as client:
        events = await stream(client, body())
    deltas = [e["answer"] for e in events if e["event"] == "agent_message"]
    assert deltas == ["Let me see.", "It is noon."]
    assert [bool(r.body.get("stream")) for r in server.upstream.requests] == [False, False]


async def test_a_chat_app_in_agent_mode_is_an_agent_chat_app(server: RunningServer) -> None:
    server.upstream.behaviour.rounds = time_rounds()
    async with server.client(CHAT_AGENT_KEY) as client:
        info = await client.get("/info")
        events = await stream(client, body())
        blocking = await client.post("/chat-messages", json=body(mode="blocking"))
    assert info.json()["mode"] == "agent-chat"
    assert "message" not in kinds(events) and "agent_message" in kinds(events)
    assert blocking.json()["mode"] == "agent-chat"


REACT_CALL = (
    'Thought: I need the time.\nAction:\n```json\n{"action": "current_time", "action_input": {}}\n```\n'
)
REACT_FINAL = (
    'Thought: I know it now.\nAction: ```{"action": "Final Answer", "action_input": "It is noon."}```'
)


async def test_react_models_act_through_text_and_answer_with_the_final_action(server: RunningServer) -> None:
    server.upstream.behaviour.rounds = [
        Round(chunks=[REACT_CALL[:20], REACT_CALL[20:]]),
        Round(chunks=[REACT_FINAL]),
    ]
    async with server.client(REACT_KEY) as client:
        events = await stream(client, body())
        rows = await history(client, events[-1]["conversation_id"])
    assert runs(events) == [
        "agent_thought",  # round 1, before the model answers
        "agent_message",
        "agent_thought",  # the action
        "agent_thought",  # its observation
        "agent_thought",  # round 2
        "agent_message",  # its text, then the final answer in one piece
        "message_end",
    ]
    action = next(i for i, e in enumerate(events) if e["event"] == "agent_thought" and e["tool"])
    text = "".join(e["answer"] for e in events[1:action])
    assert "Thought:" not in text and "Action:" not in text and "```" not in text
    assert text.strip() == "I need the time."
    assert events[action]["tool"] == "current_time" and events[action]["tool_input"] == '{"current_time": {}}'
    assert TIME_TEXT.match(json.loads(events[action + 1]["observation"])["current_time"])
    assert events[-2]["answer"] == "It is noon."
    assert rows[0]["answer"] == "It is noon."
    assert [t["tool"] for t in rows[0]["agent_thoughts"]] == ["current_time", "Final Answer"]

    first, second = (r.body for r in server.upstream.requests)
    assert "tools" not in first and first["stop"] == ["Observation"]
    system = first["messages"][0]
    assert system["role"] == "system" and "Answer about time." in system["content"]
    assert '"name": "current_time"' in system["content"] and "current_time, calculator" in system["content"]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    scratchpad = second["messages"][2]["content"]
    assert scratchpad.startswith("Thought: I need the time.\nAction: ```")
    assert '"action": "current_time"' in scratchpad and "\nObservation: " in scratchpad
    assert second["messages"][3] == {"role": "user", "content": "continue"}


async def test_react_without_an_action_answers_with_the_streamed_text(server: RunningServer) -> None:
    server.upstream.behaviour.rounds = [Round(chunks=["Just ", "an answer."])]
    async with server.client(REACT_KEY) as client:
        events = await stream(client, body())
        rows = await history(client, events[-1]["conversation_id"])
    assert runs(events) == ["agent_thought", "agent_message", "message_end"]
    assert rows[0]["answer"] == "Just an answer."


async def test_images_reach_the_first_round_and_read_as_placeholders_after(
    server: RunningServer, tool_api: ToolApi
) -> None:
    server.upstream.behaviour.rounds = time_rounds()
    image = {
        "type": "image",
        "transfer_method": "remote_url",
        "url": f"http://127.0.0.1:{tool_api.port}/cat.png",
    }
    async with server.client(TOOLS_KEY) as client:
        events = await stream(client, body("what time is it here?", files=[image]))
    assert events[-1]["event"] == "message_end"
    first, second = (r.body["messages"][1]["content"] for r in server.upstream.requests)
    assert [part["type"] for part in first] == ["text", "image_url"]
    assert first[1]["image_url"]["url"] == image["url"]
    assert second == "what time is it here?\n\n[image]"
