"""A real MCP server, built with the MCP SDK, for the MCP tool tests.

Run as a script (it imports nothing from this repository, so a stdio child needs no working
directory): ``python mcp_server.py stdio`` speaks MCP on stdin/stdout; ``python mcp_server.py
streamable-http`` or ``sse`` serves on a free loopback port and prints ``PORT <n>`` once it listens.

Tools: ``echo``, ``add`` (integer and float parameters), ``json_object``, ``json_list``,
``json_text`` (a JSON-looking string that is not JSON), ``image``, ``audio``, ``resource``,
``mixed``, ``fail`` (raises: the SDK answers ``isError: true``), ``hang`` (sleeps), ``big``
(a large text), ``shapes`` (array, object, nullable and enum parameters), ``grow`` (adds a tool
and announces the new list), ``exit`` (the process dies mid-call), ``stats`` (what this
process has seen: initialize requests, tool listings, tool calls, request headers).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
from typing import Annotated, Any, Literal

import anyio
import uvicorn
from mcp.server.context import CallNext, HandlerResult, ServerMiddleware, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import (
    AudioContent,
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    TextContent,
    TextResourceContents,
)
from pydantic import Field

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt "


class Seen:
    def __init__(self) -> None:
        self.initialize = 0
        self.listings = 0
        self.calls = 0
        self.last_headers: dict[str, str] = {}


seen = Seen()


class Counter(ServerMiddleware[Any]):
    """Counts what arrives, per process: each ``initialize`` is one client session."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "initialize":
            seen.initialize += 1
        elif ctx.method == "tools/list":
            seen.listings += 1
        elif ctx.method == "tools/call":
            seen.calls += 1
        return await call_next(ctx)


server: MCPServer[Any] = MCPServer(
    "fake-tools", instructions="Tools for tests", middleware=[Counter()], log_level="WARNING"
)


@server.tool(description="Repeat the text")
def echo(text: str) -> str:
    return text


@server.tool(description="Add two numbers")
def add(a: int, b: float = 0.5) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=str(a + b))])


@server.tool(description="An object as JSON text")
def json_object(city: str = "Paris") -> CallToolResult:
    text = json.dumps({"city": city, "temperature": 21, "tags": ["sunny"]})
    return CallToolResult(content=[TextContent(type="text", text=text)])


@server.tool(description="A list of objects as JSON text")
def json_list() -> CallToolResult:
    text = json.dumps([{"id": 1}, {"id": 2}])
    return CallToolResult(content=[TextContent(type="text", text=text)])


@server.tool(description="Text that looks like JSON but is not, and a list of numbers")
def json_text() -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text="{not json}"), TextContent(type="text", text="[1, 2]")]
    )


@server.tool(description="A tiny PNG")
def image() -> CallToolResult:
    data = base64.b64encode(PNG).decode()
    return CallToolResult(content=[ImageContent(type="image", data=data, mime_type="image/png")])


@server.tool(description="A few bytes of audio")
def audio() -> CallToolResult:
    data = base64.b64encode(WAV).decode()
    return CallToolResult(content=[AudioContent(type="audio", data=data, mime_type="audio/wav")])


@server.tool(description="Embedded resources: a text one and a blob one")
def resource() -> CallToolResult:
    return CallToolResult(
        content=[
            EmbeddedResource(
                type="resource",
                resource=TextResourceContents(
                    uri="file:///notes.txt", text="resource text", mime_type="text/plain"
                ),
            ),
            EmbeddedResource(
                type="resource",
                resource=BlobResourceContents(
                    uri="file:///data.bin", blob=base64.b64encode(b"\x00\x01").decode()
                ),
            ),
        ]
    )


@server.tool(description="Text, then JSON, then an image")
def mixed() -> CallToolResult:
    return CallToolResult(
        content=[
            TextContent(type="text", text="Here you are"),
            TextContent(type="text", text='{"ok": true}'),
            ImageContent(type="image", data=base64.b64encode(PNG).decode(), mime_type="image/png"),
        ]
    )


@server.tool(description="Always fails")
def fail(reason: str = "the tool broke") -> str:
    raise ToolError(reason)


@server.tool(description="Sleeps, then answers")
async def hang(seconds: float = 60.0) -> str:
    await anyio.sleep(seconds)
    return f"slept {seconds}"


@server.tool(description="A large text")
def big(size: int = 200_000) -> str:
    return "x" * size


@server.tool(description="Parameters of many shapes")
def shapes(
    items: list[str],
    options: dict[str, int],
    mode: Literal["fast", "slow"] = "fast",
    note: str | None = None,
    flag: bool = False,
    ratio: Annotated[float, Field(description="A ratio")] = 1.0,
) -> str:
    return json.dumps(
        {"items": items, "options": options, "mode": mode, "note": note, "flag": flag, "ratio": ratio}
    )


@server.tool(description="Adds a tool named `extra` and announces the new list")
async def grow(ctx: Context) -> str:
    if "extra" not in {t.name for t in await server.list_tools()}:
        server.add_tool(lambda: "extra!", name="extra", description="Added at run time")
    await ctx.session.send_tool_list_changed()
    return "grown"


@server.tool(description="Ends this server process")
def exit() -> str:  # noqa: A001 - the tool's name
    os._exit(3)


@server.tool(description="What this process has seen")
def stats(ctx: Context) -> str:
    headers = dict(ctx.headers or {})
    return json.dumps(
        {
            "pid": os.getpid(),
            "initialize": seen.initialize,
            "listings": seen.listings,
            "calls": seen.calls,
            "authorization": headers.get("authorization"),
            "x_team": headers.get("x-team"),
        }
    )


def serve_http(transport: str, port: int) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    port = sock.getsockname()[1]
    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    if transport == "sse":
        app = server.sse_app(transport_security=security)
    else:
        app = server.streamable_http_app(transport_security=security)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    print(f"PORT {port}", flush=True)
    uvicorn.Server(config).run(sockets=[sock])


def main() -> None:
    transport = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    # ``--port N``: listen there (a restarted server on the same port), else on a free one.
    port = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--port" else 0
    if transport == "stdio":
        server.run("stdio")
    else:
        serve_http(transport, port)


if __name__ == "__main__":
    main()
