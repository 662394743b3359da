"""MCP tools against a real MCP server (the SDK's, in a process of its own) over loopback:
Streamable HTTP, legacy SSE and stdio; listing, calls, content mapping, pooled sessions, failures."""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from difychat.server.domain.agent import McpServer
from difychat.server.net import AllowList, GuardedClient
from difychat.server.tools.base import BlobOutput, JsonOutput, TextOutput, ToolContext, ToolError, ToolOutput
from difychat.server.tools.mcp import McpServers, McpTool, McpToolProvider, endpoint_of
from tests.fakes import mcp_process
from tests.fakes.mcp_process import McpProcess

pytestmark = pytest.mark.anyio

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
TRANSPORTS = ["streamable-http", "sse", "stdio"]


@pytest.fixture(scope="module")
def http_servers() -> Iterator[dict[str, McpProcess]]:
    servers = {kind: mcp_process.start(kind) for kind in ("streamable-http", "sse")}
    yield servers
    for server in servers.values():
        server.stop()


def server_config(transport: str, servers: dict[str, McpProcess], **extra: Any) -> McpServer:
    if transport == "stdio":
        return McpServer.model_validate(
            {
                "server_identifier": "fake",
                "transport": "stdio",
                "command": mcp_process.stdio_command(),
                **extra,
            }
        )
    extra.setdefault("allow_private", True)
    return McpServer.model_validate(
        {"server_identifier": "fake", "server_url": servers[transport].url, **extra}
    )


@pytest.fixture
async def registry() -> AsyncIterator[McpServers]:
    servers = McpServers(AllowList())
    yield servers
    await servers.close()


def context(**options: Any) -> ToolContext:
    return ToolContext(http=GuardedClient(AllowList()), **options)


async def tool_of(provider: McpToolProvider, name: str) -> McpTool:
    found = await provider.tool(name)
    assert found is not None, name
    return found


async def call(provider: McpToolProvider, name: str, **arguments: Any) -> list[ToolOutput]:
    """The parts the model reads (structured content, for variables only, left out)."""
    parts = await (await tool_of(provider, name)).invoke(arguments, context())
    return [p for p in parts if not (isinstance(p, JsonOutput) and not p.for_model)]


async def stats(provider: McpToolProvider) -> dict[str, Any]:
    (part,) = await call(provider, "stats")
    assert isinstance(part, JsonOutput)
    value: dict[str, Any] = part.value
    return value


async def observation(
    provider: McpToolProvider, name: str, ctx: ToolContext | None = None, **args: Any
) -> str:
    tool = await tool_of(provider, name)
    with pytest.raises(ToolError) as raised:
        await tool.invoke(args, ctx or context())
    return raised.value.observation()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- listing -------------------------------------------------------------------------------------


async def test_tools_are_listed_with_their_parameters(
    registry: McpServers, http_servers: dict[str, McpProcess]
) -> None:
    provider = registry.provider(server_config("streamable-http", http_servers))
    tools = {t.spec.name: t.spec for t in await provider.tools()}
    assert {"echo", "add", "shapes", "fail", "hang", "stats"} <= set(tools)
    echo = tools["echo"]
    assert (echo.provider_type, echo.provider_id, echo.description) == ("mcp", "fake", "Repeat the text")
    assert echo.labels == {"en_US": "echo", "zh_Hans": "echo"}
    assert [(p.name, p.type, p.form, p.required) for p in echo.parameters] == [
        ("text", "string", "llm", True)
    ]

    add = {p.name: p for p in tools["add"].parameters}
    assert (add["a"].type, add["a"].required, add["b"].type, add["b"].required) == (
        "number",
        True,
        "number",
        False,
    )
    assert add["b"].default == 0.5

    shapes = {p.name: p for p in tools["shapes"].parameters}
    assert shapes["items"].type == "array" and shapes["items"].schema is not None
    assert shapes["items"].schema["items"] == {"type": "string"}
    assert shapes["options"].type == "object" and shapes["options"].required
    assert shapes["options"].schema is not None and shapes["options"].schema["type"] == "object"
    assert (shapes["mode"].type, shapes["mode"].options) == ("select", ("fast", "slow"))
    assert shapes["note"].type == "string"  # anyOf [string, null]: its first non-null type
    assert shapes["flag"].type == "boolean"
    assert (shapes["ratio"].type, shapes["ratio"].description) == ("number", "A ratio")


# --- calls and what their results become ---------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_calls_map_content(
    transport: str, registry: McpServers, http_servers: dict[str, McpProcess]
) -> None:
    provider = registry.provider(server_config(transport, http_servers))
    # ``echo`` declares an output schema: its structured content is kept, for variables only.
    assert await (await tool_of(provider, "echo")).invoke({"text": "héllo"}, context()) == [
        TextOutput("héllo"),
        JsonOutput({"result": "héllo"}, for_model=False),
    ]
    assert await call(provider, "add", a=2, b=0.25) == [TextOutput("2.25")]
    assert await call(provider, "json_object", city="Oslo") == [
        JsonOutput({"city": "Oslo", "temperature": 21, "tags": ["sunny"]})
    ]
    assert await call(provider, "json_list") == [JsonOutput({"id": 1}), JsonOutput({"id": 2})]
    # Looks like JSON but is not, and a list that is not of objects: text.
    assert await call(provider, "json_text") == [TextOutput("{not json}"), TextOutput("[1, 2]")]
    assert await call(provider, "image") == [BlobOutput(PNG, "image/png")]
    (audio,) = await call(provider, "audio")
    assert isinstance(audio, BlobOutput) and audio.mime_type == "audio/wav" and audio.data.startswith(b"RIFF")
    assert await call(provider, "resource") == [
        TextOutput("resource text"),
        BlobOutput(b"\x00\x01", "application/octet-stream", "data.bin"),
    ]
    assert await call(provider, "mixed") == [
        TextOutput("Here you are"),
        JsonOutput({"ok": True}),
        BlobOutput(PNG, "image/png"),
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_tool_error_is_an_observation(
    transport: str, registry: McpServers, http_servers: dict[str, McpProcess]
) -> None:
    provider = registry.provider(server_config(transport, http_servers))
    text = await observation(provider, "fail", reason="no fuel")
    assert text == "tool invoke error: Error executing tool fail: no fuel"
    # An argument of the wrong type is the server's validation error, also an observation.
    assert (await observation(provider, "add", a="two")).startswith("tool invoke error: ")


async def test_null_and_blank_arguments_are_left_out(
    registry: McpServers, http_servers: dict[str, McpProcess]
) -> None:
    provider = registry.provider(server_config("streamable-http", http_servers))
    # ``city`` blank and ``b`` null: the server's defaults apply.
    assert await call(provider, "json_object", city="  ") == [
        JsonOutput({"city": "Paris", "temperature": 21, "tags": ["sunny"]})
    ]
    assert await call(provider, "add", a=1, b=None) == [TextOutput("1.5")]


async def test_a_large_output_is_cut_at_the_limit(
    registry: McpServers, http_servers: dict[str, McpProcess]
) -> None:
    provider = registry.provider(server_config("streamable-http", http_servers))
    tool = await tool_of(provider, "big")
    part, _structured = await tool.invoke({"size": 2_000_000}, context(max_output_bytes=50_000))
    assert isinstance(part, TextOutput)
    assert part.text.startswith("x" * 50_000)
    assert part.text.endswith("[output truncated: the tool's result is larger than 50000 bytes]")
    whole, _structured = await tool.invoke({"size": 2_000_000}, context(max_output_bytes=4_000_000))
    assert whole == TextOutput("x" * 2_000_000)


async def test_headers_are_sent(registry: McpServers, http_servers: dict[str, McpProcess]) -> None:
    config = server_config(
        "streamable-http", http_servers, headers={"Authorization": "Bearer s3cret", "X-Team": "blue"}
    )
    seen = await stats(registry.provider(config))
    assert (seen["authorization"], seen["x_team"]) == ("Bearer s3cret", "blue")
    assert "s3cret" not in repr(config) and "s3cret" not in repr(registry.provider(config).endpoint)


# --- sessions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_one_session_serves_every_call(
    transport: str, registry: McpServers, http_servers: dict[str, McpProcess]
) -> None:
    provider = registry.provider(server_config(transport, http_servers))
    before = await stats(provider)
    for _ in range(5):
        await call(provider, "echo", text="again")
    await asyncio.gather(*(call(provider, "echo", text=str(i)) for i in range(10)))
    after = await stats(provider)
    assert after["initialize"] == before["initialize"]
    assert after["calls"] == before["calls"] + 16
    assert provider.open_sessions == 1


async def test_a_second_session_opens_while_the_first_is_busy(registry: McpServers) -> None:
    config = McpServer.model_validate(
        {"server_identifier": "fake", "command": mcp_process.stdio_command(), "max_sessions": 2}
    )
    provider = registry.provider(config)
    first = await stats(provider)
    slow = asyncio.create_task(call(provider, "hang", seconds=1.0))
    await asyncio.sleep(0.2)
    await call(provider, "echo", text="shares the busy session, and starts another")
    deadline = time.monotonic() + 10
    while provider.open_sessions < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert provider.open_sessions == 2
    assert await slow == [TextOutput("slept 1.0")]
    # Each stdio session is a process of its own; a call goes to the one that is not busy.
    slow = asyncio.create_task(call(provider, "hang", seconds=1.0))
    await asyncio.sleep(0.2)
    second = await stats(provider)
    assert second["pid"] != first["pid"] and second["initialize"] == 1
    await slow


async def test_apps_declaring_the_same_server_share_it(
    registry: McpServers, http_servers: dict[str, McpProcess]
) -> None:
    one = registry.provider(server_config("streamable-http", http_servers))
    two = registry.provider(server_config("streamable-http", http_servers))
    other = registry.provider(server_config("streamable-http", http_servers, timeout=5))
    assert one is two and one is not other


# --- transports ----------------------------------------------------------------------------------


async def test_a_url_of_neither_shape_tries_streamable_http_then_sse(
    registry: McpServers, http_servers: dict[str, McpProcess]
) -> None:
    # ``/sse/`` ends in neither ``/mcp`` nor ``/sse``: Streamable HTTP is refused, SSE answers.
    config = McpServer.model_validate(
        {"server_identifier": "fake", "server_url": http_servers["sse"].url + "/", "allow_private": True}
    )
    provider = registry.provider(config)
    assert await call(provider, "echo", text="via sse") == [TextOutput("via sse")]
    config = McpServer.model_validate(
        {
            "server_identifier": "fake",
            "server_url": http_servers["streamable-http"].url + "/",
            "allow_private": True,
        }
    )
    assert await call(registry.provider(config), "echo", text="via mcp") == [TextOutput("via mcp")]


async def test_loopback_is_refused_unless_allowed(
    registry: McpServers, http_servers: dict[str, McpProcess]
) -> None:
    provider = registry.provider(server_config("streamable-http", http_servers, allow_private=False))
    with pytest.raises(ToolError) as raised:
        await provider.tools()
    assert raised.value.observation() == (
        "tool invoke error: Failed to connect to MCP server: the address 127.0.0.1 is not allowed (loopback)"
    )
    # The operator's allow-list works too.
    allowed = McpServers(AllowList.parse(["127.0.0.1"]))
    try:
        config = server_config("streamable-http", http_servers, allow_private=False)
        assert await call(allowed.provider(config), "echo", text="ok") == [TextOutput("ok")]
    finally:
        await allowed.close()


# --- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mcp", "sse", "other"])
async def test_a_server_down_at_start(kind: str, registry: McpServers) -> None:
    url = f"http://127.0.0.1:{closed_port()}/{kind}"
    provider = registry.provider(
        McpServer.model_validate({"server_identifier": "down", "server_url": url, "allow_private": True})
    )
    started = time.monotonic()
    await provider.start()  # reported, not raised
    with pytest.raises(ToolError) as raised:
        await provider.tools()
    assert raised.value.observation().startswith("tool invoke error: Failed to connect to MCP server: ")
    assert (
        "Connection refused" in raised.value.observation() or "connect" in raised.value.observation().lower()
    )
    assert time.monotonic() - started < 5


async def test_a_server_that_comes_up_later(registry: McpServers) -> None:
    port = closed_port()
    config = McpServer.model_validate(
        {"server_identifier": "late", "server_url": f"http://127.0.0.1:{port}/mcp", "allow_private": True}
    )
    provider = registry.provider(config)
    with pytest.raises(ToolError) as first:
        await provider.tools()
    # Right after a failed connect, calls fail at once with the same reason instead of trying again.
    started = time.monotonic()
    with pytest.raises(ToolError) as second:
        await provider.tools()
    assert time.monotonic() - started < 0.5
    assert second.value.observation() == first.value.observation()
    late = mcp_process.start("streamable-http", "--port", str(port))
    try:
        await asyncio.sleep(1.1)  # the first wait after a failure is one second
        assert "echo" in {t.spec.name for t in await provider.tools()}
    finally:
        late.stop()


async def test_a_command_that_cannot_run(registry: McpServers) -> None:
    config = McpServer.model_validate(
        {"server_identifier": "nothing", "command": ["/nonexistent/mcp-server"]}
    )
    with pytest.raises(ToolError) as raised:
        await registry.provider(config).tools()
    assert raised.value.observation().startswith("tool invoke error: Failed to connect to MCP server: ")


@pytest.mark.parametrize("transport", ["streamable-http", "stdio"])
async def test_a_server_that_dies_mid_call(transport: str, registry: McpServers) -> None:
    own: McpProcess | None = None
    if transport == "stdio":
        config = server_config("stdio", {})
    else:
        own = mcp_process.start(transport)
        config = McpServer.model_validate(
            {"server_identifier": "fake", "server_url": own.url, "allow_private": True, "timeout": 5}
        )
    try:
        provider = registry.provider(config)
        await provider.tools()
        started = time.monotonic()
        text = await observation(provider, "exit")
        assert text.startswith("tool invoke error: Failed to connect to MCP server: "), text
        assert time.monotonic() - started < 10
        if transport == "stdio":
            # The next call starts the server again.
            assert await call(provider, "echo", text="back") == [TextOutput("back")]
        else:
            text = await observation(provider, "echo", text="anyone?")
            assert text.startswith("tool invoke error: Failed to connect to MCP server: "), text
    finally:
        if own is not None:
            own.stop()


async def test_a_restarted_server_gets_a_new_session(registry: McpServers) -> None:
    first = mcp_process.start("streamable-http")
    second: McpProcess | None = None
    try:
        config = McpServer.model_validate(
            {"server_identifier": "fake", "server_url": first.url, "allow_private": True}
        )
        provider = registry.provider(config)
        assert (await stats(provider))["initialize"] == 1
        first.stop()
        second = mcp_process.start("streamable-http", "--port", str(first.port))
        # The new process does not know the session: it answers 404, the call is sent again on a
        # new session (it cannot have run), and succeeds.
        seen = await stats(provider)
        assert (seen["initialize"], seen["calls"]) == (1, 1)
        assert provider.open_sessions == 1
    finally:
        first.stop()
        if second is not None:
            second.stop()


async def test_a_call_that_takes_too_long(registry: McpServers, http_servers: dict[str, McpProcess]) -> None:
    provider = registry.provider(server_config("streamable-http", http_servers))
    started = time.monotonic()
    text = await observation(provider, "hang", context(timeout=0.5), seconds=30)
    assert (
        text == "tool invoke error: Failed to invoke tool: the MCP server did not answer within 0.5 seconds"
    )
    assert time.monotonic() - started < 5
    # The session is still good.
    assert await call(provider, "echo", text="still here") == [TextOutput("still here")]


async def test_sse_read_timeout_bounds_a_call(
    registry: McpServers, http_servers: dict[str, McpProcess]
) -> None:
    provider = registry.provider(server_config("sse", http_servers, sse_read_timeout=0.5))
    text = await observation(provider, "hang", seconds=30)
    assert (
        text == "tool invoke error: Failed to invoke tool: the MCP server did not answer within 0.5 seconds"
    )


# --- keeping the tool list fresh -----------------------------------------------------------------


@pytest.mark.parametrize("transport", ["streamable-http", "stdio"])
async def test_the_list_is_fetched_again_when_the_server_says_it_changed(
    transport: str, registry: McpServers
) -> None:
    own = mcp_process.start(transport) if transport != "stdio" else None
    try:
        config = (
            server_config("stdio", {})
            if own is None
            else McpServer.model_validate(
                {"server_identifier": "fake", "server_url": own.url, "allow_private": True}
            )
        )
        provider = registry.provider(config)
        assert "extra" not in {t.spec.name for t in await provider.tools()}
        await call(provider, "grow")
        deadline = time.monotonic() + 5
        names: set[str] = set()
        while "extra" not in names and time.monotonic() < deadline:
            names = {t.spec.name for t in await provider.tools()}
            await asyncio.sleep(0.05)
        assert "extra" in names
        assert await call(provider, "extra") == [TextOutput("extra!")]
    finally:
        if own is not None:
            own.stop()


async def test_the_list_is_cached_for_its_ttl(http_servers: dict[str, McpProcess]) -> None:
    now = [0.0]
    endpoint = endpoint_of(server_config("streamable-http", http_servers, tools_ttl=60), AllowList())
    provider = McpToolProvider(endpoint, clock=lambda: now[0])
    try:
        await provider.tools()
        listed = (await stats(provider))["listings"]
        now[0] = 59.0
        await provider.tools()
        assert (await stats(provider))["listings"] == listed
        now[0] = 61.0
        await provider.tools()
        assert (await stats(provider))["listings"] == listed + 1
    finally:
        await provider.close()


async def test_the_last_list_stays_while_the_server_is_away(registry: McpServers) -> None:
    own = mcp_process.start("streamable-http")
    try:
        config = McpServer.model_validate(
            {"server_identifier": "fake", "server_url": own.url, "allow_private": True, "tools_ttl": 0.2}
        )
        provider = registry.provider(config)
        names = {t.spec.name for t in await provider.tools()}
    finally:
        own.stop()
    await asyncio.sleep(0.3)
    assert {t.spec.name for t in await provider.tools()} == names
    text = await observation(provider, "echo", text="hello?")
    assert text.startswith("tool invoke error: Failed to connect to MCP server: ")
