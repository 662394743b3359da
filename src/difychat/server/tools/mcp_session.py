"""Sessions with one MCP server: opened once, shared by every call, replaced when they break.

A session lives in a task of its own (the SDK's transports and sessions are task-scoped context
managers), which opens the transport, initializes, then waits until the session is closed or
its connection breaks. Calls from any task send their requests through it; MCP multiplexes
them. A pool keeps up to ``max_sessions`` of them per server: a call takes the least busy one,
and a second opens (in the background) only while every open one is busy.

Failures are ``ToolError``s whose text the model reads (contract §12): connecting, and a
connection lost mid-call, are ``Failed to connect to MCP server: …``; anything else is
``Failed to invoke tool: …``. A call is sent again only when it cannot have run: the session
died before it was sent, or the server answered that it does not know the session (it
restarted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import anyio
import httpcore2
import httpx2
from mcp import types
from mcp.client.session import ClientSession, IncomingMessage
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage

from difychat.server.net import AllowList
from difychat.server.tools.base import ToolError
from difychat.server.tools.mcp_guard import guarded_http_client

logger = logging.getLogger("difychat.tools.mcp")
T = TypeVar("T")

Kind = Literal["streamable_http", "sse", "stdio"]
CLIENT_NAME = "Dify"  # what Dify's MCP client calls itself (contract §12)
# Pages of tools/list read at most (a server whose cursor never ends cannot hang a listing).
MAX_LIST_PAGES = 100
CLOSE_SECONDS = 5.0
MAX_RETRY_SECONDS = 60.0
# One answer (an image, a long text) arrives as one SSE event; the SDK's default cap is 1 MiB.
MAX_EVENT_BYTES = 32 * 1024 * 1024


class McpConnectError(ToolError):
    """The server could not be reached, or the connection broke before the answer came."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"Failed to connect to MCP server: {detail}")


class McpInvokeError(ToolError):
    """The server was reached but the request failed (an error answer, a timeout)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"Failed to invoke tool: {detail}")


@dataclass(frozen=True, slots=True)
class McpEndpoint:
    """How to reach one MCP server (credentials included: never logged or shown)."""

    identifier: str
    transport: Literal["auto", "streamable_http", "sse", "stdio"]
    url: str | None = field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    command: tuple[str, ...] = field(default=(), repr=False)
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    allow: AllowList = field(default_factory=AllowList, repr=False)
    timeout: float = 30.0
    sse_read_timeout: float = 300.0
    max_sessions: int = 1
    tools_ttl: float = 300.0
    client_version: str = "1.12.1"

    def kinds(self) -> tuple[Kind, ...]:
        """The transports to try, in order (contract §12, Streamable HTTP before legacy SSE)."""
        if self.transport != "auto":
            return (self.transport,)
        if self.url is None:
            return ("stdio",)
        path = httpx2.URL(self.url).path
        if path.endswith("/mcp"):
            return ("streamable_http",)
        if path.endswith("/sse"):
            return ("sse",)
        return ("streamable_http", "sse")


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _timeout(exc: BaseException | None) -> bool:
    return exc is not None and isinstance(
        _leaf(exc), TimeoutError | httpx2.TimeoutException | httpcore2.TimeoutException
    )


def describe(exc: BaseException) -> str:
    """A failure's cause in a few words: the first leaf of an exception group, without secrets."""
    exc = _leaf(exc)
    if isinstance(exc, MCPError):
        return exc.error.message
    if isinstance(exc, httpx2.HTTPStatusError):
        return f"the server answered HTTP {exc.response.status_code}"
    if _timeout(exc):
        return "timed out"
    if isinstance(exc, FileNotFoundError):
        return f"cannot run the command: {exc.strerror}"
    text = str(exc).strip()
    return text or type(exc).__name__


def _connection_failure(exc: BaseException) -> bool:
    """Whether opening failed before any server answered (another transport would fail the same way)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return isinstance(exc, httpx2.ConnectError | httpcore2.ConnectError | httpx2.ConnectTimeout | OSError)


class _WatchedReadStream:
    """The transport's read stream, telling its session when the connection ends."""

    def __init__(self, inner: Any, on_end: Callable[[], None]) -> None:
        self._inner = inner
        self._on_end = on_end

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        try:
            item: SessionMessage | Exception = await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._on_end()
            raise
        return item

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class McpSession:
    """One initialized session, owned by its own task."""

    def __init__(self, endpoint: McpEndpoint, kind: Kind, on_tools_changed: Callable[[], None]) -> None:
        self.endpoint = endpoint
        self.kind = kind
        self.busy = 0
        self._on_tools_changed = on_tools_changed
        self._session: ClientSession | None = None
        self._ended = False
        # The server answered 404 to this session's id: it no longer knows it (it restarted).
        self.unknown = False
        self._failure: BaseException | None = None
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return not self._ended and not self.unknown and self._task is not None and not self._task.done()

    @property
    def session(self) -> ClientSession:
        assert self._session is not None
        return self._session

    async def open(self) -> None:
        """Connect and initialize within the endpoint's timeout; raise ``McpConnectError`` if not."""
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._own(ready), name=f"mcp-{self.endpoint.identifier}")
        try:
            async with asyncio.timeout(self.endpoint.timeout):
                await asyncio.shield(ready)
        except TimeoutError:
            await self.close()
            raise McpConnectError(
                f"no answer to initialize within {self.endpoint.timeout:g} seconds"
            ) from None
        except asyncio.CancelledError:
            await self.close()
            raise
        except Exception as exc:
            await self.close()
            raise McpConnectError(describe(exc)) from None

    async def failure(self, wait: float = 1.0) -> str | None:
        """Why the connection ended, if it did (waits briefly for its task to finish ending)."""
        if self._task is not None and not self._task.done():
            await asyncio.wait({self._task}, timeout=wait)
        return describe(self._failure) if self._failure is not None else None

    @property
    def timed_out(self) -> bool:
        """The connection ended because nothing arrived for too long (an SSE stream's read timeout)."""
        return _timeout(self._failure)

    def discard(self) -> None:
        """Stop using this session; it closes in the background."""
        self._ended = True
        self._closing.set()

    async def close(self) -> None:
        self._ended = True
        self._closing.set()
        task = self._task
        if task is None or task.done():
            return
        done, _ = await asyncio.wait({task}, timeout=CLOSE_SECONDS)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _own(self, ready: asyncio.Future[None]) -> None:
        try:
            async with AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(self._transport())
                watched = _WatchedReadStream(read, self._ended_now)
                session = await stack.enter_async_context(
                    ClientSession(
                        watched,
                        write,
                        message_handler=self._on_message,
                        client_info=types.Implementation(
                            name=CLIENT_NAME, version=self.endpoint.client_version
                        ),
                    )
                )
                await session.initialize()
                self._session = session
                ready.set_result(None)
                await self._closing.wait()
        except asyncio.CancelledError:
            if not ready.done():
                ready.cancel()
            raise
        except BaseException as exc:  # noqa: BLE001 - the owner task reports, it never raises
            self._failure = exc
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError(describe(exc)))
            elif not self._closing.is_set():
                logger.info("MCP server %s: connection lost: %s", self.endpoint.identifier, describe(exc))
        finally:
            self._ended = True

    def _ended_now(self) -> None:
        self._ended = True

    async def _on_response(self, response: httpx2.Response) -> None:
        if response.status_code == 404 and response.request.headers.get("mcp-session-id"):
            self.unknown = True

    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._on_tools_changed()
        elif isinstance(message, Exception) and self._failure is None:
            # A transport's fault (the legacy SSE reader reports its stream's end this way); it
            # explains the connection's end if one follows.
            self._failure = message

    @asynccontextmanager
    async def _transport(self) -> AsyncIterator[tuple[Any, Any]]:
        endpoint = self.endpoint
        if self.kind == "stdio":
            program, *args = endpoint.command
            params = StdioServerParameters(command=program, args=args, env=dict(endpoint.env) or None)
            async with stdio_client(params, errlog=sys.stderr) as streams:
                yield streams
            return
        assert endpoint.url is not None
        if self.kind == "sse":

            def factory(
                headers: dict[str, str] | None = None,
                timeout: httpx2.Timeout | None = None,
                auth: httpx2.Auth | None = None,
            ) -> httpx2.AsyncClient:
                return _client(endpoint, self._on_response)

            async with sse_client(
                endpoint.url,
                timeout=endpoint.timeout,
                sse_read_timeout=endpoint.sse_read_timeout,
                httpx_client_factory=factory,
            ) as streams:
                yield streams
            return
        async with (
            _client(endpoint, self._on_response) as client,
            streamable_http_client(
                endpoint.url, http_client=client, max_sse_event_size=MAX_EVENT_BYTES
            ) as streams,
        ):
            yield streams


def _client(
    endpoint: McpEndpoint, on_response: Callable[[httpx2.Response], Awaitable[None]]
) -> httpx2.AsyncClient:
    client = guarded_http_client(
        endpoint.allow,
        headers=dict(endpoint.headers),
        timeout=endpoint.timeout,
        read_timeout=endpoint.sse_read_timeout,
    )
    client.event_hooks["response"].append(on_response)
    return client


class McpSessionPool:
    """The sessions of one server."""

    def __init__(self, endpoint: McpEndpoint, on_tools_changed: Callable[[], None] = lambda: None) -> None:
        self.endpoint = endpoint
        self._on_tools_changed = on_tools_changed
        self._sessions: list[McpSession] = []
        self._opening: asyncio.Task[McpSession] | None = None
        self._kinds = endpoint.kinds()
        self._closed = False
        # After a failed connect, calls fail at once for a while (1 s, doubling to a minute) rather
        # than each waiting for a server that is down, or for the connect timeout of one that is gone.
        self._failures = 0
        self._retry_at = 0.0
        self._last_failure = ""

    @property
    def open_sessions(self) -> int:
        return sum(1 for s in self._sessions if s.alive)

    async def call_tool(self, name: str, arguments: dict[str, Any], timeout: float) -> types.CallToolResult:
        async def call(session: ClientSession) -> types.CallToolResult:
            return await session.call_tool(name, arguments, read_timeout_seconds=timeout)

        return await self._run(call, timeout)

    async def list_tools(self) -> list[types.Tool]:
        async def listing(session: ClientSession) -> list[types.Tool]:
            tools: list[types.Tool] = []
            cursor: str | None = None
            for _ in range(MAX_LIST_PAGES):
                params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
                page = await session.list_tools(params=params)
                tools.extend(page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
            return tools

        return await self._run(listing, self.endpoint.timeout)

    async def close(self) -> None:
        self._closed = True
        opening, self._opening = self._opening, None
        if opening is not None:
            opening.cancel()
            with contextlib.suppress(BaseException):
                await opening
        sessions, self._sessions = self._sessions, []
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)

    async def _run(self, request: Callable[[ClientSession], Awaitable[T]], timeout: float) -> T:
        for attempt in range(2):
            session = await self._acquire()
            session.busy += 1
            try:
                # The SDK bounds the wait for the answer; this bounds everything around it too.
                async with asyncio.timeout(timeout + self.endpoint.timeout):
                    return await request(session.session)
            except MCPError as exc:
                if exc.error.code == types.REQUEST_TIMEOUT:
                    raise McpInvokeError(
                        f"the MCP server did not answer within {timeout:g} seconds"
                    ) from None
                if session.unknown:  # refused for its session id: the request did not run
                    session.discard()
                    if attempt == 0:
                        continue
                    raise McpConnectError("the server does not know the session") from None
                if exc.error.code == types.CONNECTION_CLOSED:
                    session.discard()
                    cause = await session.failure()
                    if session.timed_out:  # the stream stayed silent past the read timeout
                        raise McpInvokeError(
                            f"the MCP server did not answer within {timeout:g} seconds"
                        ) from None
                    raise McpConnectError(cause or "the connection closed before the answer came") from None
                raise McpInvokeError(exc.error.message) from None
            except TimeoutError:
                raise McpInvokeError(f"the MCP server did not answer within {timeout:g} seconds") from None
            except (httpx2.TransportError, httpcore2.NetworkError, OSError, anyio.BrokenResourceError) as exc:
                session.discard()
                raise McpConnectError(describe(exc)) from None
            finally:
                session.busy -= 1
        raise AssertionError("unreachable")

    async def _acquire(self) -> McpSession:
        if self._closed:
            raise McpConnectError("the server's connections are closed")
        self._sessions = [s for s in self._sessions if s.alive]
        if self._sessions:
            session = min(self._sessions, key=lambda s: s.busy)
            if session.busy and len(self._sessions) < self.endpoint.max_sessions and self._opening is None:
                self._start_opening()  # for the next calls; this one shares a busy session
            return session
        if self._opening is None and time.monotonic() < self._retry_at:
            raise McpConnectError(self._last_failure)
        opening = self._opening or self._start_opening()
        return await asyncio.shield(opening)

    def _start_opening(self) -> asyncio.Task[McpSession]:
        task = asyncio.create_task(self._open(), name=f"mcp-open-{self.endpoint.identifier}")
        self._opening = task

        def done(finished: asyncio.Task[McpSession]) -> None:
            if self._opening is finished:
                self._opening = None
            if finished.cancelled():
                return
            failure = finished.exception()  # retrieved here: a background open nobody awaited must not warn
            if failure is None:
                self._failures = 0
            elif isinstance(failure, McpConnectError):
                self._failures += 1
                self._retry_at = time.monotonic() + min(MAX_RETRY_SECONDS, 2.0 ** (self._failures - 1))
                self._last_failure = str(failure).removeprefix("Failed to connect to MCP server: ")

        task.add_done_callback(done)
        return task

    async def _open(self) -> McpSession:
        failure: McpConnectError | None = None
        for kind in self._kinds:
            session = McpSession(self.endpoint, kind, self._on_tools_changed)
            try:
                await session.open()
            except McpConnectError as exc:
                failure = exc
                if session._failure is not None and _connection_failure(session._failure):
                    break  # nobody answered: another transport to the same address would not either
                continue
            self._kinds = (kind,)  # the transport that worked is the one used from now on
            if self._closed:
                await session.close()
                raise McpConnectError("the server's connections are closed")
            self._sessions.append(session)
            return session
        assert failure is not None
        raise failure
