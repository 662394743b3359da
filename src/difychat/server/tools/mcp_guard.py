"""The outbound guard for the MCP SDK's HTTP client (httpx2, not aiohttp).

The SDK's transports take an ``httpx2.AsyncClient``; the guard goes in at the lowest level it
offers, the network backend that opens each TCP connection: the host is resolved here, every
address is checked against the policy (``net.policy``, the same decision as ``net.guard``), and
the socket is opened to a checked address, never to a name the OS would resolve again. TLS still
verifies the certificate against the URL's host name (httpcore passes it for SNI separately).
Redirects (the SDK follows only those within the server's origin) open their connections here too.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping

import anyio
import httpcore2
import httpx2

from difychat.server.net import AllowList
from difychat.server.net.policy import IPAddress

_LIMITS = httpx2.Limits(max_connections=32, max_keepalive_connections=8, keepalive_expiry=30.0)


def server_allow_list(base: AllowList, url: str, allow_private: bool) -> AllowList:
    """``base``, plus the host of ``url`` itself when the operator trusts it (``allow_private``)."""
    host = httpx2.URL(url).host
    if not allow_private or not host:
        return base
    try:
        network = ipaddress.ip_network(host)
    except ValueError:
        return AllowList(base.networks, base.hosts | {host.lower().rstrip(".")})
    return AllowList((*base.networks, network), base.hosts)


class GuardedBackend(httpcore2.AsyncNetworkBackend):
    """Opens TCP connections only to addresses the policy (with this allow-list) permits."""

    def __init__(self, allow: AllowList, inner: httpcore2.AsyncNetworkBackend | None = None) -> None:
        self._allow = allow
        self._inner = inner if inner is not None else httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        with anyio.fail_after(timeout) if timeout is not None else anyio.CancelScope():
            try:
                addresses = await self._addresses(host, port)
            except TimeoutError:
                raise httpcore2.ConnectTimeout(f"resolving {host} timed out") from None
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise httpcore2.ConnectError("connections through unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    async def _addresses(self, host: str, port: int) -> list[IPAddress]:
        literal = _ip(host)
        if literal is not None:
            why = self._allow.refusal(literal)
            if why is not None:
                raise httpcore2.ConnectError(f"the address {literal} is not allowed ({why})")
            return [literal]
        try:
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore2.ConnectError(f"cannot resolve {host}: {exc}") from None
        found: list[IPAddress] = []
        for info in infos:
            address = _ip(str(info[4][0]))
            if address is not None and address not in found:
                found.append(address)
        if self._allow.permits_host(host):  # an allow-listed name vouches for what it resolves to
            return found
        kept = [a for a in found if self._allow.refusal(a) is None]
        if not kept:
            raise httpcore2.ConnectError(f"{host} resolves only to addresses that are not allowed")
        return kept


def _ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").partition("%")[0])
    except ValueError:
        return None


class GuardedTransport(httpx2.AsyncHTTPTransport):
    """httpx2's transport with a guarded connection pool: no proxies from the environment, no
    unix sockets, connections only to permitted addresses."""

    def __init__(self, allow: AllowList) -> None:
        super().__init__(trust_env=False, limits=_LIMITS)
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(trust_env=False),
            max_connections=_LIMITS.max_connections,
            max_keepalive_connections=_LIMITS.max_keepalive_connections,
            keepalive_expiry=_LIMITS.keepalive_expiry,
            network_backend=GuardedBackend(allow),
        )


def guarded_http_client(
    allow: AllowList,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float,
    read_timeout: float,
) -> httpx2.AsyncClient:
    """A client for one MCP server: its headers on every request, ``timeout`` for connecting and
    sending, ``read_timeout`` between two reads of an answer (a tool's SSE stream may be slow)."""
    return httpx2.AsyncClient(
        transport=GuardedTransport(allow),
        headers=dict(headers or {}),
        timeout=httpx2.Timeout(timeout, read=read_timeout),
        trust_env=False,
        follow_redirects=False,
    )
