"""Apps as MCP servers: POST /mcp/server/<code>/mcp, driven by the MCP SDK's client and by raw HTTP,
against the server in-process on a real socket and the fake model upstream."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import uvicorn
import yaml
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

from difychat.server.app import create_app
from difychat.server.services.mcp_server import server_code
from difychat.server.settings import Settings
from tests.fakes import mcp_process
from tests.fakes.upstream import FakeUpstream, Round, ScriptedCall

pytestmark = pytest.mark.anyio

CODE = "AbCdEfGh12345678"
HIDDEN_CODE = "HiddenHidden0000"
KEY = "app-weatherweatherweather01"
OTHER_KEY = "app-otherotherotherother0001"
STRICT_KEY = "app-strictstrictstrict00001"
AGENT_KEY = "app-mcpagentmcpagentmcp00001"
ANSWER = "Hello from the fake model."
WEATHER_TOOL = {
    "name": "Weather",
    "description": "Answers weather questions",
    "inputSchema": {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "User Input/Question content"},
            "city": {"description": "City to check", "type": "string"},
            "unit": {"description": "", "type": "string", "enum": ["C", "F"]},
            "days": {"description": "How many days", "type": "number"},
            "detailed": {"description": "", "type": "boolean"},
            "notes": {"description": "", "type": "string"},
            "conversation_id": {
                "type": "string",
                "description": "Optional. Continue an earlier conversation: the conversation_id from "
                "the _meta of an earlier result of this tool. Leave it out to start a new conversation.",
            },
        },
        "required": ["query", "city"],
    },
}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def apps_file(upstream: FakeUpstream) -> dict[str, Any]:
    model = {"provider": "openai", "name": "fake-model", "base_url": upstream.base_url, "api_key": "sk-test"}
    return {
        "apps": [
            {
                "name": "Weather",
                "description": "the app's own description",
                "api_keys": [KEY],
                "model": model,
                "pre_prompt": "You answer about the weather in {{city}}.",
                "user_input_form": [
                    {"text-input": {"variable": "city", "label": "City", "required": True}},
                    {"select": {"variable": "unit", "label": "Unit", "options": ["C", "F"]}},
                    {"number": {"variable": "days", "label": "Days"}},
                    {"checkbox": {"variable": "detailed", "label": "Detailed"}},
                    {"paragraph": {"variable": "notes", "label": "Notes"}},
                ],
                "mcp_server": {
                    "enabled": True,
                    "code": CODE,
                    "description": "Answers weather questions",
                    "parameters": {"city": "City to check", "days": "How many days"},
                },
            },
            {"name": "Generated", "model": model, "description": "Derived code", "mcp_server": True},
            {"name": "Hidden", "model": model, "mcp_server": {"enabled": False, "code": HIDDEN_CODE}},
            {"name": "Other", "api_keys": [OTHER_KEY], "model": model},
            {
                "name": "Strict",
                "api_keys": [STRICT_KEY],
                "model": model,
                "mcp_server": {"enabled": True, "code": "StrictStrict0000", "require_api_key": True},
            },
            {
                "name": "Down",
                "model": {**model, "base_url": f"http://127.0.0.1:{closed_port()}/v1"},
                "mcp_server": {"enabled": True, "code": "DownDownDown0000"},
            },
        ]
    }


@dataclass
class Running:
    base_url: str
    settings: Settings
    upstream: FakeUpstream

    def url(self, code: str = CODE) -> str:
        return f"{self.base_url}/mcp/server/{code}/mcp"


Starter = Callable[[dict[str, Any]], Awaitable[Running]]


@pytest.fixture
async def start_server(database_url: str, tmp_path: Path, upstream: FakeUpstream) -> AsyncIterator[Starter]:
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []

    async def start(apps: dict[str, Any]) -> Running:
        config = tmp_path / "apps.yaml"
        config.write_text(yaml.safe_dump(apps))
        settings = Settings(data_dir=tmp_path / "data", database_url=database_url, config=config)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        running = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on"))
        task = asyncio.get_running_loop().create_task(running.serve(sockets=[sock]))
        servers.append((running, task))
        while not running.started:
            if task.done():
                task.result()
                raise RuntimeError("server exited during start-up")
            await asyncio.sleep(0.01)
        return Running(f"http://127.0.0.1:{port}", settings, upstream)

    yield start
    for running, task in servers:
        running.should_exit = True
        await asyncio.wait_for(task, 30)


@pytest.fixture
async def server(start_server: Starter, upstream: FakeUpstream) -> Running:
    return await start_server(apps_file(upstream))


@asynccontextmanager
async def mcp_session(
    url: str, *, headers: dict[str, str] | None = None, client: str = "tester", version: str = "1.0"
) -> AsyncIterator[ClientSession]:
    async with (
        httpx2.AsyncClient(headers=headers or {}, timeout=30) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write, client_info=types.Implementation(name=client, version=version)) as session,
    ):
        yield session


async def rpc(server: Running, body: Any, code: str = CODE, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        if isinstance(body, bytes):
            return await client.post(server.url(code), content=body, headers=headers)
        return await client.post(server.url(code), json=body, headers=headers)


def answered(upstream: FakeUpstream) -> list[dict[str, Any]]:
    """The messages of the last model call that answered (not one that named a conversation)."""
    for record in reversed(upstream.chat_requests()):
        messages: list[dict[str, Any]] = record.body["messages"]
        if not messages[0]["content"].startswith("You write short titles"):
            return messages
    raise AssertionError("no answer was asked for")


def text_of(result: types.CallToolResult) -> str:
    (part,) = result.content
    assert isinstance(part, types.TextContent)
    return part.text


# --- the SDK's client ----------------------------------------------------------------------------


async def test_an_mcp_client_lists_and_calls_the_app(server: Running) -> None:
    async with mcp_session(server.url()) as session:
        init = await session.initialize()
        assert init.protocol_version == "2024-11-05"
        assert (init.server_info.name, init.server_info.version) == ("Dify", "1.12.1")
        assert init.instructions == "Answers weather questions"
        assert init.capabilities.tools is not None and init.capabilities.tools.list_changed is False
        await session.send_ping()

        (tool,) = (await session.list_tools()).tools
        assert tool.model_dump(by_alias=True, exclude_none=True) == WEATHER_TOOL

        result = await session.call_tool("Weather", {"query": "Sunny tomorrow?", "city": "Paris", "days": 2})
        assert result.is_error is False and text_of(result) == ANSWER
        assert result.meta is not None
        conversation_id = result.meta["conversation_id"]

        # The inputs reached the prompt, the query the user message.
        sent = answered(server.upstream)
        assert sent[0] == {"role": "system", "content": "You answer about the weather in Paris."}
        assert sent[-1]["content"] == "Sunny tomorrow?"

        # The conversation continues when asked to: the earlier turn is in the history.
        again = await session.call_tool(
            "Weather", {"query": "And after?", "city": "Paris", "conversation_id": conversation_id}
        )
        assert again.meta is not None and again.meta["conversation_id"] == conversation_id
        history = [m["content"] for m in answered(server.upstream)]
        assert "Sunny tomorrow?" in history and history[-1] == "And after?"

        # Without it, each call is a new conversation.
        fresh = await session.call_tool("Weather", {"query": "Rain?", "city": "Oslo"})
        assert fresh.meta is not None and fresh.meta["conversation_id"] != conversation_id


async def test_invalid_arguments_are_json_rpc_errors(server: Running) -> None:
    async with mcp_session(server.url()) as session:
        await session.initialize()
        with pytest.raises(Exception) as raised:
            await session.call_tool("Weather", {"query": "no city"})
        assert "city is required in input form" in str(raised.value)
        with pytest.raises(Exception) as raised:
            await session.call_tool("Weather", {"city": "Paris"})
        assert "query is required" in str(raised.value)


async def test_each_client_is_its_own_end_user(server: Running) -> None:
    async with mcp_session(server.url(), client="alpha") as alpha:
        await alpha.initialize()
        first = await alpha.call_tool("Weather", {"query": "hi", "city": "Rome"})
        assert first.meta is not None
        conversation_id = first.meta["conversation_id"]
    async with mcp_session(server.url(), client="beta") as beta:
        await beta.initialize()
        with pytest.raises(Exception) as raised:
            await beta.call_tool(
                "Weather", {"query": "hi", "city": "Rome", "conversation_id": conversation_id}
            )
        assert "Conversation Not Exists." in str(raised.value)
    # The same client again (another session) is the same end user: it may continue.
    async with mcp_session(server.url(), client="alpha") as alpha:
        await alpha.initialize()
        again = await alpha.call_tool(
            "Weather", {"query": "hi", "city": "Rome", "conversation_id": conversation_id}
        )
        assert again.meta is not None and again.meta["conversation_id"] == conversation_id
    # The app's API shows them as end users of their own.
    async with httpx.AsyncClient(
        base_url=server.base_url + "/v1", headers={"Authorization": f"Bearer {KEY}"}
    ) as api:
        listed = await api.get("/conversations", params={"user": "mcp:alpha@1.0"})
        assert [c["id"] for c in listed.json()["data"]] == [conversation_id]
        assert (await api.get("/conversations", params={"user": "mcp:beta@1.0"})).json()["data"] == []


async def test_an_api_key_is_its_own_end_user(server: Running) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with mcp_session(server.url(), headers=headers, client="alpha") as keyed:
        await keyed.initialize()
        first = await keyed.call_tool("Weather", {"query": "hi", "city": "Rome"})
        assert first.meta is not None
    # Another client name with the same key is the same caller.
    async with mcp_session(server.url(), headers=headers, client="gamma") as keyed:
        await keyed.initialize()
        again = await keyed.call_tool(
            "Weather", {"query": "hi", "city": "Rome", "conversation_id": first.meta["conversation_id"]}
        )
        assert again.meta is not None and again.meta["conversation_id"] == first.meta["conversation_id"]


async def test_a_generated_code_serves_its_app(server: Running) -> None:
    code = server_code(server.settings.resolved_secret_key(), "Generated")
    assert len(code) == 16 and code.isalnum()
    async with mcp_session(server.url(code)) as session:
        init = await session.initialize()
        assert init.instructions == "Derived code"
        (tool,) = (await session.list_tools()).tools
        assert tool.name == "Generated"
        assert tool.input_schema["required"] == ["query"]
        assert text_of(await session.call_tool("Generated", {"query": "hi"})) == ANSWER


# --- credentials ---------------------------------------------------------------------------------


async def test_keys_of_other_apps_are_refused(server: Running) -> None:
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    refused = await rpc(server, ping, Authorization=f"Bearer {OTHER_KEY}")
    assert refused.status_code == 401
    assert refused.json() == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": -32600, "message": "Access token is invalid"},
    }
    assert (await rpc(server, ping, Authorization="Bearer app-nonexistentkey000")).status_code == 401
    assert (await rpc(server, ping, Authorization=f"Bearer {KEY}")).json()["result"] == {}


async def test_an_app_may_require_a_key(server: Running) -> None:
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    refused = await rpc(server, ping, "StrictStrict0000")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == -32600
    allowed = await rpc(server, ping, "StrictStrict0000", Authorization=f"Bearer {STRICT_KEY}")
    assert allowed.status_code == 200 and allowed.json() == {"jsonrpc": "2.0", "id": 1, "result": {}}


# --- the protocol on the wire --------------------------------------------------------------------


async def test_initialize_on_the_wire(server: Running) -> None:
    response = await rpc(
        server,
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "2"},
            },
        },
    )
    assert response.status_code == 200
    assert response.text == (
        '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2024-11-05","capabilities":{"tools":'
        '{"listChanged":false}},"serverInfo":{"name":"Dify","version":"1.12.1"},'
        '"instructions":"Answers weather questions"}}'
    )
    assert response.headers["content-type"].startswith("application/json")
    session = response.headers["mcp-session-id"]
    assert session.isascii() and " " not in session
    # The session id names the client: a call sent with it belongs to that client's end user.
    called = await rpc(
        server,
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "Weather", "arguments": {"query": "hi", "city": "X"}},
        },
        **{"Mcp-Session-Id": session},
    )
    body = called.json()
    assert list(body) == ["jsonrpc", "id", "result"]
    assert list(body["result"]) == ["content", "isError", "_meta"]
    assert body["result"]["content"] == [{"type": "text", "text": ANSWER}]
    async with httpx.AsyncClient(
        base_url=server.base_url + "/v1", headers={"Authorization": f"Bearer {KEY}"}
    ) as api:
        listed = await api.get("/conversations", params={"user": "mcp:raw@2"})
        assert [c["id"] for c in listed.json()["data"]] == [body["result"]["_meta"]["conversation_id"]]


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"jsonrpc": "2.0", "id": 3, "method": "resources/list"}, -32601, "Method not found: resources/list"),
        ({"jsonrpc": "2.0", "method": "notifications/message"}, -32600, "Request ID is required"),
        (
            {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": []},
            -32602,
            "Invalid params: params must be an object",
        ),
        ({"jsonrpc": "2.0", "id": 3}, -32600, "Invalid Request: not a JSON-RPC 2.0 message"),
        ({"id": 3, "method": "ping"}, -32600, "Invalid Request: not a JSON-RPC 2.0 message"),
        (b"{not json", -32600, "Invalid Request: not a JSON-RPC 2.0 message"),
        (
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {"name": "Weather", "arguments": {"city": "X"}},
            },
            -32602,
            "query is required",
        ),
        (
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "tools/call",
                "params": {
                    "name": "Weather",
                    "arguments": {"query": "q", "city": "X", "conversation_id": "nope"},
                },
            },
            -32602,
            "conversation_id must be a valid UUID",
        ),
    ],
)
async def test_errors_are_json_rpc_bodies(server: Running, body: Any, code: int, message: str) -> None:
    response = await rpc(server, body)
    assert response.status_code == 200
    expected_id = body.get("id") if isinstance(body, dict) else None
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": expected_id,
        "error": {"code": code, "message": message},
    }


async def test_notifications_are_accepted_without_a_body(server: Running) -> None:
    response = await rpc(server, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert (response.status_code, response.content) == (202, b"")


@pytest.mark.parametrize(
    ("code", "message"), [("NoSuchServer0000", "Server Not Found"), (HIDDEN_CODE, "Server is not active")]
)
async def test_unknown_and_inactive_servers_are_404(server: Running, code: str, message: str) -> None:
    response = await rpc(server, {"jsonrpc": "2.0", "id": 7, "method": "ping"}, code)
    assert response.status_code == 404
    assert response.json() == {"jsonrpc": "2.0", "id": 7, "error": {"code": -32600, "message": message}}


async def test_a_model_failure_is_an_internal_error(server: Running) -> None:
    call = {
        "jsonrpc": "2.0",
        "id": 9,
        "method": "tools/call",
        "params": {"name": "Down", "arguments": {"query": "hello?"}},
    }
    response = await rpc(server, call, "DownDownDown0000")
    assert response.status_code == 200
    error = response.json()["error"]
    assert error["code"] == -32603 and error["message"].startswith("Internal server error: ")


# --- an agent calling MCP tools ------------------------------------------------------------------


async def test_an_agent_calls_the_tools_of_its_mcp_server(
    start_server: Starter, upstream: FakeUpstream
) -> None:
    model = {"provider": "openai", "name": "fake-model", "base_url": upstream.base_url, "api_key": "sk-test"}

    def entry(name: str) -> dict[str, Any]:
        return {
            "provider_type": "mcp",
            "provider_id": "fake",
            "tool_name": name,
            "tool_parameters": {},
            "enabled": True,
        }

    agent = {
        "name": "Tool user",
        "mode": "agent-chat",
        "api_keys": [AGENT_KEY],
        "model": model,
        "agent_mode": {"enabled": True, "strategy": "function_call", "tools": [entry("echo"), entry("fail")]},
        "mcp_servers": [{"server_identifier": "fake", "command": mcp_process.stdio_command()}],
    }
    server = await start_server({"apps": [agent]})
    upstream.behaviour.rounds = [
        Round(
            calls=[
                ScriptedCall("echo", '{"text": "from the model"}'),
                ScriptedCall("fail", '{"reason": "broken"}'),
            ]
        ),
        Round(chunks=["Done."]),
    ]
    async with httpx.AsyncClient(
        base_url=server.base_url + "/v1", headers={"Authorization": f"Bearer {AGENT_KEY}"}, timeout=30
    ) as api:
        answer = await api.post(
            "/chat-messages",
            json={"inputs": {}, "query": "use the tools", "user": "u1", "response_mode": "blocking"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["answer"] == "Done."
        # The model was offered the MCP tools with their schemas.
        asked = upstream.chat_requests(stream=True)[0]  # the answer, not the title call
        offered = {t["function"]["name"]: t["function"] for t in asked.body["tools"]}
        assert offered["echo"]["parameters"]["properties"]["text"]["type"] == "string"
        assert offered["echo"]["parameters"]["required"] == ["text"]
        messages = await api.get(
            "/messages", params={"user": "u1", "conversation_id": answer.json()["conversation_id"]}
        )
        (thought, _final) = messages.json()["data"][0]["agent_thoughts"]
        assert thought["tool"] == "echo;fail"
        observation = json.loads(thought["observation"])
        assert observation["echo"] == "from the model"
        assert observation["fail"] == "tool invoke error: Error executing tool fail: broken"
