"""Fetching user-supplied URLs without reaching internal addresses (SSRF).

Every address a host resolves to is checked in the connector's resolver, so the
connection goes to an address that was checked (no window for DNS rebinding);
IP-literal hosts, which aiohttp does not resolve, are checked before the request.
Redirects are followed by hand, each hop checked again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class RemoteFetchError(Exception):
    """The URL was refused or could not be fetched; the message says why."""


@dataclass(frozen=True, slots=True)
class RemoteFile:
    url: str
    filename: str
    mime_type: str
    size: int
    content: bytes | None


class AddressPolicy:
    """Public addresses only, unless the operator allow-lists hosts or networks."""

    def __init__(self, allow: Iterable[str] = ()) -> None:
        self._networks: list[IPNetwork] = []
        self._hosts: set[str] = set()
        for entry in allow:
            entry = entry.strip()
            if not entry:
                continue
            try:
                self._networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self._hosts.add(entry.lower().rstrip("."))

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self._hosts

    def address_allowed(self, address: IPAddress) -> bool:
        if any(address in net for net in self._networks):
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            mapped = address.ipv4_mapped
            return any(mapped in net for net in self._networks) or _public(mapped)
        return _public(address)


def _public(address: IPAddress) -> bool:
    return address.is_global and not address.is_multicast


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


class AddressRefused(OSError):
    """Every address of the host is outside what the policy allows."""


class GuardedResolver(AbstractResolver):
    """Resolves with the default resolver and keeps only the addresses the policy allows."""

    def __init__(self, policy: AddressPolicy) -> None:
        self._policy = policy
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self._policy.host_allowed(host):
            return results
        allowed = [r for r in results if self._policy.address_allowed(ipaddress.ip_address(r["host"]))]
        if not allowed:
            raise AddressRefused(f"{host} resolves only to addresses that are not allowed")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


_FILENAME_STAR = re.compile(r"filename\*\s*=\s*([^']*)'[^']*'([^;]+)", re.IGNORECASE)


def _filename(headers: Any, url: str) -> str:
    disposition = headers.get("Content-Disposition")
    if disposition:
        star = _FILENAME_STAR.search(disposition)
        if star:
            return unquote(star.group(2).strip(), encoding=star.group(1) or "utf-8")
        msg = Message()
        msg["content-disposition"] = disposition
        name = msg.get_param("filename", header="content-disposition")
        if isinstance(name, str) and name:
            return name
    path = urlsplit(url).path
    return unquote(path.rsplit("/", 1)[-1])


class RemoteFetcher:
    def __init__(
        self,
        policy: AddressPolicy,
        *,
        max_bytes: int,
        timeout: float = 30.0,
        max_redirects: int = 5,
    ) -> None:
        self._policy = policy
        self.max_bytes = max_bytes
        self._timeout = timeout
        self._max_redirects = max_redirects
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self._policy), use_dns_cache=False, limit=64)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=True)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise RemoteFetchError("only http and https URLs can be fetched")
        host = parts.hostname
        if not host:
            raise RemoteFetchError("the URL has no host")
        address = _literal(host)
        if address is not None and not self._policy.address_allowed(address):
            raise RemoteFetchError(f"the address {address} is not allowed")

    async def fetch(self, url: str, *, content: bool = True, max_bytes: int | None = None) -> RemoteFile:
        """GET the URL (HEAD when ``content`` is false), refusing disallowed addresses on every hop."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        try:
            async with asyncio.timeout(self._timeout):
                return await self._fetch(url, content, limit)
        except TimeoutError:
            raise RemoteFetchError("fetching the URL timed out") from None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, AddressRefused):
                raise RemoteFetchError(str(exc.os_error)) from None
            raise RemoteFetchError(f"fetching the URL failed: {exc}") from None
        except aiohttp.ClientError as exc:
            raise RemoteFetchError(f"fetching the URL failed: {exc}") from None

    async def _fetch(self, url: str, content: bool, limit: int) -> RemoteFile:
        session = self._client()
        method = "GET" if content else "HEAD"
        for _ in range(self._max_redirects + 1):
            self._check_url(url)
            async with session.request(method, url, allow_redirects=False) as response:
                if response.status in (301, 302, 303, 307, 308):
                    location = response.headers.get("Location")
                    if not location:
                        raise RemoteFetchError("redirect without a location")
                    url = urljoin(url, location)
                    continue
                if response.status >= 400:
                    raise RemoteFetchError(f"the URL answered HTTP {response.status}")
                declared = response.content_length
                if declared is not None and declared > limit:
                    raise RemoteFetchError(f"the file is larger than {limit} bytes")
                mime = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
                name = _filename(response.headers, str(response.url))
                if not content:
                    return RemoteFile(url, name, mime, declared or 0, None)
                parts: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_chunked(64 * 1024):
                    size += len(chunk)
                    if size > limit:
                        raise RemoteFetchError(f"the file is larger than {limit} bytes")
                    parts.append(chunk)
                return RemoteFile(url, name, mime, size, b"".join(parts))
        raise RemoteFetchError("too many redirects")
