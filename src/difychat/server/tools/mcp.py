"""MCP tools: the tools of an MCP server, offered to agents (contract §12).

``McpToolProvider`` is one server (``provider_type: mcp``, ``provider_id`` = its identifier). Its
tool list is fetched when the server starts, again after ``tools_ttl`` seconds, and as soon as the
server announces ``notifications/tools/list_changed``; while the server cannot be reached, the last
list stays in use. Each tool's parameters come from its ``inputSchema`` (``mcp_schema``), and each
result is mapped to output parts (``mcp_content``). Calls share the server's pooled sessions
(``mcp_session``).

This module needs the ``mcp`` extra; the composition root imports it only when an app declares an
MCP server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mcp import types

from difychat.server.domain.agent import McpServer
from difychat.server.domain.apps import AppConfig
from difychat.server.net import AllowList
from difychat.server.tools.base import ToolContext, ToolOutput, ToolSpec, plain_labels
from difychat.server.tools.mcp_content import result_outputs
from difychat.server.tools.mcp_guard import server_allow_list
from difychat.server.tools.mcp_schema import parameters_of
from difychat.server.tools.mcp_session import McpConnectError, McpEndpoint, McpSessionPool

logger = logging.getLogger("difychat.tools.mcp")


def endpoint_of(server: McpServer, allow: AllowList, client_version: str = "1.12.1") -> McpEndpoint:
    """The apps file's entry as the client uses it (secrets read out of their ``SecretStr``)."""
    url = server.server_url.get_secret_value() if server.server_url is not None else None
    transport = "stdio" if url is None else server.transport
    return McpEndpoint(
        identifier=server.server_identifier,
        transport=transport,
        url=url,
        headers=tuple((k, v.get_secret_value()) for k, v in server.headers.items()),
        command=tuple(server.command),
        env=tuple((k, v.get_secret_value()) for k, v in server.env.items()),
        allow=server_allow_list(allow, url, server.allow_private) if url is not None else allow,
        timeout=server.timeout,
        sse_read_timeout=server.sse_read_timeout,
        max_sessions=server.max_sessions,
        tools_ttl=server.tools_ttl,
        client_version=client_version,
    )


class McpTool:
    """One tool of an MCP server."""

    def __init__(self, spec: ToolSpec, pool: McpSessionPool, *, structured: bool) -> None:
        self.spec = spec
        self._pool = pool
        # The tool declares an output schema: its structured content is kept (for variables only).
        self._structured = structured

    async def invoke(self, arguments: Mapping[str, Any], context: ToolContext) -> Sequence[ToolOutput]:
        # Null and blank arguments are left out: the server applies its own defaults (contract §12).
        sent = {
            name: value
            for name, value in arguments.items()
            if value is not None and not (isinstance(value, str) and not value.strip())
        }
        timeout = min(context.timeout, self._pool.endpoint.sse_read_timeout)
        result = await self._pool.call_tool(self.spec.name, sent, timeout)
        return result_outputs(result, structured=self._structured, max_bytes=context.max_output_bytes)


def _spec(identifier: str, tool: types.Tool) -> ToolSpec:
    return ToolSpec(
        provider_type="mcp",
        provider_id=identifier,
        name=tool.name,
        description=tool.description or "",
        parameters=parameters_of(tool.input_schema),
        labels=plain_labels(tool.name),
    )


class McpToolProvider:
    """An MCP server's tools, listed once and kept fresh; its sessions, shared by every call."""

    provider_type = "mcp"

    def __init__(self, endpoint: McpEndpoint, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.provider_id = endpoint.identifier
        self.endpoint = endpoint
        self._clock = clock
        self._pool = McpSessionPool(endpoint, on_tools_changed=self.tools_changed)
        self._tools: list[McpTool] | None = None
        self._fetched_at = 0.0
        self._stale = False
        self._listing = asyncio.Lock()

    @property
    def open_sessions(self) -> int:
        return self._pool.open_sessions

    async def start(self) -> None:
        """List the tools now, so the first agent turn does not wait; a server that is down is
        reported and tried again when its tools are next needed."""
        try:
            await self.refresh()
        except McpConnectError as exc:
            logger.warning("MCP server %s: %s (tried again when its tools are needed)", self.provider_id, exc)
        except Exception as exc:
            logger.warning("MCP server %s: listing its tools failed: %s", self.provider_id, exc)

    def tools_changed(self) -> None:
        """The server announced a new tool list: fetch it before the next use."""
        self._stale = True

    async def tools(self) -> Sequence[McpTool]:
        """The server's tools; fetched when never fetched, announced as changed, or older than the TTL.

        Raises ``McpConnectError`` only when the tools were never listed and the server cannot be
        reached; otherwise a failed refresh keeps the last list.
        """
        if self._tools is None or self._stale or self._expired():
            try:
                return await self.refresh()
            except (McpConnectError, Exception) as exc:
                if self._tools is None:
                    raise
                logger.warning("MCP server %s: keeping its last tool list: %s", self.provider_id, exc)
        assert self._tools is not None
        return self._tools

    async def tool(self, name: str) -> McpTool | None:
        return next((t for t in await self.tools() if t.spec.name == name), None)

    async def refresh(self) -> list[McpTool]:
        started = self._clock()
        async with self._listing:
            if self._tools is not None and self._fetched_at >= started and not self._stale:
                return self._tools  # another caller listed them while this one waited
            self._stale = False
            try:
                listed = await self._pool.list_tools()
            except BaseException:
                self._stale = self._stale or self._tools is not None
                raise
            self._tools = [
                McpTool(_spec(self.provider_id, t), self._pool, structured=t.output_schema is not None)
                for t in listed
            ]
            self._fetched_at = self._clock()
            return self._tools

    async def close(self) -> None:
        await self._pool.close()

    def _expired(self) -> bool:
        ttl = self.endpoint.tools_ttl
        return bool(ttl) and self._clock() - self._fetched_at >= ttl


class McpServers:
    """Every MCP server the apps declare, one provider per distinct server (apps that declare the
    same server share its sessions)."""

    def __init__(self, allow: AllowList, client_version: str = "1.12.1") -> None:
        self._allow = allow
        self._client_version = client_version
        self._providers: dict[McpEndpoint, McpToolProvider] = {}

    def provider(self, server: McpServer) -> McpToolProvider:
        endpoint = endpoint_of(server, self._allow, self._client_version)
        found = self._providers.get(endpoint)
        if found is None:
            found = self._providers[endpoint] = McpToolProvider(endpoint)
        return found

    def app_providers(self, config: AppConfig) -> list[McpToolProvider]:
        """The providers of the servers an app declares (an ``AppProviders`` builder: no I/O)."""
        return [self.provider(server) for server in config.mcp_servers]

    def providers(self) -> list[McpToolProvider]:
        return list(self._providers.values())

    async def start(self) -> None:
        """Connect to every server and list its tools, in the background of the server's start."""
        await asyncio.gather(*(p.start() for p in self._providers.values()))

    async def close(self) -> None:
        await asyncio.gather(*(p.close() for p in self._providers.values()), return_exceptions=True)
