"""HTTP for tools: every request through the context's guarded client, bounded in time and in bytes.

The time limit covers the whole exchange (connecting, redirects, every byte of the body), so an
upstream that trickles cannot hold a tool past ``ToolContext.timeout``; the size limit is
enforced while the body streams, after decompression, so a large or compressed answer never
sits in memory whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from difychat.server.net import OutboundRefused
from difychat.server.tools.base import ToolContext, ToolError

_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    url: str
    mime_type: str
    charset: str | None
    body: bytes
    # True when the body was cut at the size limit (only with ``truncate=True``).
    truncated: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)

    def text(self) -> str:
        """The body as text: the declared charset, else UTF-8; undecodable bytes replaced."""
        for encoding in (self.charset, "utf-8"):
            if encoding:
                try:
                    return self.body.decode(encoding, errors="replace")
                except LookupError:  # an unknown charset name
                    continue
        return self.body.decode("utf-8", errors="replace")


def mime_of(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


async def request(
    context: ToolContext,
    method: str,
    url: str | URL,
    *,
    max_bytes: int,
    truncate: bool = False,
    early: Callable[[Response], Response | None] | None = None,
    **options: Any,
) -> Response:
    """Send one request through ``context.http`` and read the answer, at most ``max_bytes`` of it.

    A body over the limit is cut (``truncate=True``) or refused with a ToolError. ``early``, when
    given, sees the response (without body) first: it returns a ``Response`` to answer without
    reading the body (an unsupported type, an error status), or None to go on.
    Refused addresses, network failures and the time limit become ToolError.
    """
    try:
        async with asyncio.timeout(context.timeout):
            async with context.http.request(method, url, **options) as response:
                mime = mime_of(response.headers.get("Content-Type", ""))
                headers = dict(response.headers.items())
                head = Response(
                    response.status, str(response.url), mime, response.charset, b"", headers=headers
                )
                if early is not None:
                    answer = early(head)
                    if answer is not None:
                        return answer
                declared = response.content_length
                if declared is not None and declared > max_bytes and not truncate:
                    raise ToolError(f"the response is larger than {max_bytes} bytes")
                body, cut = await _read(response, max_bytes, truncate)
                return Response(response.status, head.url, mime, head.charset, body, cut, headers)
    except OutboundRefused as exc:
        raise ToolError(f"the URL is not allowed: {exc}") from None
    except TimeoutError:
        raise ToolError(f"the request timed out after {context.timeout:g} seconds") from None
    except aiohttp.ClientError as exc:
        raise ToolError(f"the request failed: {exc or type(exc).__name__}") from None


async def _read(response: aiohttp.ClientResponse, max_bytes: int, truncate: bool) -> tuple[bytes, bool]:
    parts: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        if size + len(chunk) > max_bytes:
            if not truncate:
                raise ToolError(f"the response is larger than {max_bytes} bytes")
            parts.append(chunk[: max_bytes - size])
            return b"".join(parts), True
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts), False


def clip(text: str, max_bytes: int, marker: str = "\n[truncated]") -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8 (on a character boundary), marked when cut."""
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    room = max(0, max_bytes - len(marker.encode("utf-8")))
    return data[:room].decode("utf-8", errors="ignore") + marker
