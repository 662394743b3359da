"""Fetching the files chat messages link to (``remote_url``), through the outbound guard.

Which addresses may be reached, on every redirect hop, is decided in ``difychat.server.net``;
this module only adds what a remote file needs: size limits, a time limit, a file name.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import unquote

import aiohttp
from yarl import URL

from difychat.server.net import GuardedClient, OutboundRefused


class RemoteFetchError(Exception):
    """The URL was refused or could not be fetched; the message says why."""


@dataclass(frozen=True, slots=True)
class RemoteFile:
    url: str
    filename: str
    mime_type: str
    size: int
    content: bytes | None


_FILENAME_STAR = re.compile(r"filename\*\s*=\s*([^']*)'[^']*'([^;]+)", re.IGNORECASE)


def _filename(headers: Any, url: URL) -> str:
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
    return url.name


class RemoteFetcher:
    def __init__(self, client: GuardedClient, *, max_bytes: int, timeout: float = 30.0) -> None:
        self._client = client
        self.max_bytes = max_bytes
        self._timeout = timeout

    async def close(self) -> None:
        await self._client.close()

    async def fetch(self, url: str, *, content: bool = True, max_bytes: int | None = None) -> RemoteFile:
        """GET the URL (HEAD when ``content`` is false); disallowed addresses are refused on every hop."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        try:
            async with asyncio.timeout(self._timeout):
                return await self._fetch(url, content, limit)
        except OutboundRefused as exc:
            raise RemoteFetchError(str(exc)) from None
        except TimeoutError:
            raise RemoteFetchError("fetching the URL timed out") from None
        except aiohttp.ClientError as exc:
            raise RemoteFetchError(f"fetching the URL failed: {exc}") from None

    async def _fetch(self, url: str, content: bool, limit: int) -> RemoteFile:
        async with self._client.request("GET" if content else "HEAD", url) as response:
            final = response.url
            if response.status >= 400:
                raise RemoteFetchError(f"the URL answered HTTP {response.status}")
            if 300 <= response.status < 400:
                raise RemoteFetchError(f"the URL answered HTTP {response.status} without a usable redirect")
            declared = response.content_length
            if declared is not None and declared > limit:
                raise RemoteFetchError(f"the file is larger than {limit} bytes")
            mime = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            name = _filename(response.headers, final)
            if not content:
                return RemoteFile(str(final), name, mime, declared or 0, None)
            parts: list[bytes] = []
            size = 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise RemoteFetchError(f"the file is larger than {limit} bytes")
                parts.append(chunk)
            return RemoteFile(str(final), name, mime, size, b"".join(parts))
