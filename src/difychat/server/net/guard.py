"""Enforcing the address policy on the connections aiohttp actually opens.

The decision is taken in the connector's socket factory, on the address the socket is about to
connect to: after yarl's IDNA/NFKC normalisation of the host, after DNS, for IP-literal hosts
(which aiohttp never hands to a resolver) and on every redirect hop alike. The resolver filters
what names resolve to, so a name with one public and one private address still works, and it is
the only place that knows a host name: an allow-listed name vouches for the addresses it
resolved to, for the current hop only.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from difychat.server.net.errors import AddressRefused, MalformedURL
from difychat.server.net.policy import IPAddress, IPNetwork, refusal
from difychat.server.net.urls import check_url, host_name

# (family, type, proto, canonname, sockaddr), as socket.getaddrinfo returns them.
AddrInfo = tuple[int, int, int, str, tuple[Any, ...]]
SocketOpener = Callable[[AddrInfo], socket.socket]


@dataclass(frozen=True, slots=True)
class AllowList:
    """Operator exceptions to the policy: networks (CIDR or single addresses) and exact host names."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        """Parse entries such as ``10.0.0.0/8``, ``192.168.1.5``, ``fd00::/8`` or ``files.internal``.

        Raises ValueError for an entry that is neither a network nor a host name.
        """
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            try:
                name = host_name(entry.encode("idna").decode("ascii"))
            except UnicodeError:
                name = None
            if name is None:
                raise ValueError(f"{entry!r} is neither a network nor a host name")
            hosts.add(name.rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    def permits_host(self, host: str) -> bool:
        """Whether ``host``, as the HTTP client resolves it, is an allow-listed name."""
        return host.lower().rstrip(".") in self.hosts

    def refusal(self, address: IPAddress) -> str | None:
        return refusal(address, self.networks)


_REDIRECTS = frozenset({301, 302, 303, 307, 308})

# Socket addresses an allow-listed host name resolved to during the current hop (see the module
# docstring). A context variable, so concurrent requests never see each other's.
_vouched: ContextVar[frozenset[str]] = ContextVar("difychat_net_vouched", default=frozenset())


def _address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def plain_socket(addr_info: AddrInfo) -> socket.socket:
    family, kind, proto, _, _ = addr_info
    return socket.socket(family=family, type=kind, proto=proto)


class GuardedSocketFactory:
    """aiohttp's ``socket_factory``: refuses to open a socket towards a non-permitted address."""

    def __init__(self, allow: AllowList, open_socket: SocketOpener = plain_socket) -> None:
        self._allow = allow
        self._open = open_socket

    def __call__(self, addr_info: AddrInfo) -> socket.socket:
        host = str(addr_info[4][0])
        if host not in _vouched.get():
            address = _address(host)
            if address is None:  # something the OS would resolve again: refuse, do not guess
                raise AddressRefused(f"the address {host!r} is not allowed (not an IP address)")
            why = self._allow.refusal(address)
            if why is not None:
                raise AddressRefused(f"the address {address} is not allowed ({why})")
        return self._open(addr_info)


class GuardedResolver(AbstractResolver):
    """Resolves with ``inner`` and keeps only the addresses the policy permits."""

    def __init__(self, allow: AllowList, inner: AbstractResolver | None = None) -> None:
        self._allow = allow
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self._allow.permits_host(host):
            _vouched.set(_vouched.get() | {r["host"] for r in results})
            return results
        kept = []
        for result in results:
            address = _address(result["host"])
            if address is not None and self._allow.refusal(address) is None:
                kept.append(result)
        if not kept:
            raise AddressRefused(f"{host} resolves only to addresses that are not allowed")
        return kept

    async def close(self) -> None:
        await self._inner.close()


async def check_each_hop(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """Session middleware, run by aiohttp for the first request and every redirect hop.

    aiohttp moves credentials out of a hop's URL before middleware sees it, so an absolute
    redirect target is also checked here, as it arrives.
    """
    check_url(request.url)
    token = _vouched.set(frozenset())
    try:
        response = await handler(request)
    finally:
        _vouched.reset(token)
    location = response.headers.get("Location") if response.status in _REDIRECTS else None
    if location:
        try:
            target: URL | None = URL(location)
        except ValueError:
            target = None  # aiohttp refuses it itself
        if target is not None and target.is_absolute():
            try:
                check_url(target)
            except MalformedURL as exc:
                response.close()
                raise MalformedURL(f"a redirect pointed to a URL that cannot be fetched: {exc}") from None
    return response


def guarded_connector(
    allow: AllowList,
    *,
    resolver: AbstractResolver | None = None,
    open_socket: SocketOpener = plain_socket,
    limit: int = 64,
) -> aiohttp.TCPConnector:
    """A connector that only connects to permitted addresses (build it inside the event loop).

    ``resolver`` and ``open_socket`` are seams for tests: the guard wraps them, it is not replaced.
    """
    return aiohttp.TCPConnector(
        resolver=GuardedResolver(allow, resolver),
        socket_factory=GuardedSocketFactory(allow, open_socket),
        use_dns_cache=False,  # resolve (and check) on every connection
        limit=limit,
    )


def guarded_session(
    allow: AllowList,
    *,
    resolver: AbstractResolver | None = None,
    open_socket: SocketOpener = plain_socket,
    limit: int = 64,
    **session_options: Any,
) -> aiohttp.ClientSession:
    """A session whose every connection and every redirect hop is guarded.

    Environment proxies are ignored (a proxy would connect on the request's behalf, unchecked).
    Requests must not pass ``proxy=`` or ``middlewares=``; ``max_redirects`` caps the hops.
    """
    for option in ("connector", "trust_env", "middlewares", "proxy"):
        if option in session_options:
            raise TypeError(f"a guarded session sets {option} itself")
    return aiohttp.ClientSession(
        connector=guarded_connector(allow, resolver=resolver, open_socket=open_socket, limit=limit),
        trust_env=False,
        middlewares=(check_each_hop,),
        **session_options,
    )
