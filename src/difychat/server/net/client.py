"""The HTTP client for URLs that a request can steer (remote files, and later web and API tools)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from difychat.server.net.errors import AddressRefused, MalformedURL, OutboundRefused
from difychat.server.net.guard import AllowList, SocketOpener, guarded_session, plain_socket
from difychat.server.net.urls import parse_url

_RESERVED_OPTIONS = frozenset({"proxy", "proxy_auth", "middlewares", "allow_redirects", "max_redirects"})


class GuardedClient:
    """One pooled aiohttp session whose connections only go to permitted addresses.

    Redirects are followed by aiohttp, at most ``max_redirects`` of them; each hop's URL is
    checked again and its connection goes through the same guarded resolver and socket factory.
    Refusals raise OutboundRefused (MalformedURL or AddressRefused); other failures are aiohttp's.
    """

    def __init__(
        self,
        allow: AllowList,
        *,
        max_redirects: int = 5,
        limit: int = 64,
        resolver: AbstractResolver | None = None,
        open_socket: SocketOpener = plain_socket,
    ) -> None:
        if max_redirects < 0:
            raise ValueError("max_redirects must not be negative")
        self.allow = allow
        self.max_redirects = max_redirects
        self._limit = limit
        self._resolver = resolver
        self._open_socket = open_socket
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The guarded session, for callers that need aiohttp's API directly (streams, websockets)."""
        if self._session is None:
            self._session = guarded_session(
                self.allow,
                resolver=self._resolver,
                open_socket=self._open_socket,
                limit=self._limit,
                auto_decompress=True,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @asynccontextmanager
    async def request(
        self, method: str, url: str | URL, **options: Any
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a request and yield the final response (after redirects); raise OutboundRefused if refused."""
        reserved = _RESERVED_OPTIONS & options.keys()
        if reserved:
            raise TypeError(f"a guarded request sets {', '.join(sorted(reserved))} itself")
        target = parse_url(url)
        follow = self.max_redirects > 0
        try:
            async with self.session().request(
                method,
                target,
                allow_redirects=follow,
                # aiohttp counts the redirect responses it has seen, so one more than the hops followed
                max_redirects=self.max_redirects + 1,
                **options,
            ) as response:
                yield response
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, AddressRefused):
                raise AddressRefused(str(exc.os_error)) from None
            raise
        except aiohttp.TooManyRedirects:
            raise OutboundRefused(f"more than {self.max_redirects} redirects") from None
        except (aiohttp.InvalidUrlRedirectClientError, aiohttp.NonHttpUrlRedirectClientError):
            raise MalformedURL("a redirect pointed to a URL that cannot be fetched") from None
