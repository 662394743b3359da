"""Drive the guarded client through aiohttp without ever connecting anywhere.

The guard wraps two seams: a resolver that only understands numeric hosts and a fixed table
of names (so no DNS query leaves the machine), and a socket opener that records the address it
was asked for and refuses (so a socket the guard lets through never connects). What the opener
records is exactly the address aiohttp would have connected to.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from difychat.server.net import AllowList, GuardedClient, MalformedURL, OutboundRefused
from difychat.server.net.guard import AddrInfo


class TableResolver(AbstractResolver):
    """Numeric hosts as the OS would read them (AI_NUMERICHOST: no lookup), plus fixed names."""

    def __init__(self, names: Mapping[str, Sequence[str]] | None = None) -> None:
        self.names = dict(names or {})
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        try:
            infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
            addresses = [str(info[4][0]) for info in infos]
        except (socket.gaierror, UnicodeError):
            if host not in self.names:
                raise OSError(f"{host} is not a test host") from None
            addresses = list(self.names[host])
        return [
            {
                "hostname": host,
                "host": a,
                "port": port,
                "family": socket.AF_INET6 if ":" in a else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for a in addresses
        ]

    async def close(self) -> None:
        pass


@dataclass
class Tripwire:
    """A socket opener that never opens a socket: it notes the address and fails."""

    reached: list[str] = field(default_factory=list)

    def __call__(self, addr_info: AddrInfo) -> socket.socket:
        self.reached.append(str(addr_info[4][0]))
        raise ConnectionRefusedError("tripwire: the guard let this address through")


@dataclass(frozen=True)
class Outcome:
    kind: str  # "malformed", "refused" (by address), "reached" (the tripwire), "failed" (anything else)
    detail: str

    @property
    def blocked(self) -> bool:
        return self.kind in ("malformed", "refused")


async def probe_async(
    urls: Iterable[str], allow: AllowList | None = None, names: Mapping[str, Sequence[str]] | None = None
) -> list[Outcome]:
    tripwire = Tripwire()
    client = GuardedClient(allow or AllowList(), resolver=TableResolver(names), open_socket=tripwire)
    outcomes: list[Outcome] = []
    try:
        for url in urls:
            tripwire.reached.clear()
            outcome: Outcome
            try:
                async with client.request("GET", url) as response:  # pragma: no cover - nothing answers
                    outcome = Outcome("failed", f"HTTP {response.status}")
            except MalformedURL as exc:
                outcome = Outcome("malformed", str(exc))
            except OutboundRefused as exc:
                outcome = Outcome("refused", str(exc))
            except aiohttp.ClientError as exc:
                outcome = Outcome("failed", str(exc))
            if tripwire.reached:
                # The guard decided to connect; whatever aiohttp reported afterwards is noise.
                outcome = Outcome("reached", tripwire.reached[-1])
            outcomes.append(outcome)
    finally:
        await client.close()
    return outcomes


def probe(
    urls: Iterable[str], allow: AllowList | None = None, names: Mapping[str, Sequence[str]] | None = None
) -> list[Outcome]:
    return asyncio.run(probe_async(list(urls), allow, names))
