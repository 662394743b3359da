"""What the built-ins that call a web service share: the service's base URL, a JSON call, results as text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from yarl import URL

from difychat.server.net import MalformedURL, parse_url
from difychat.server.tools import http
from difychat.server.tools.base import ToolConfigError, ToolContext, ToolCredentialsError, ToolError

# A search answer is small; this bounds what a misbehaving service can make us read.
MAX_ANSWER_BYTES = 2 * 1024 * 1024
MAX_RESULTS = 20


def base_url(provider: str, credentials: Mapping[str, str], default: str | None = None) -> URL | None:
    """The provider's ``base_url`` credential (or ``default``); None when there is neither.

    A URL that cannot be fetched is a ToolConfigError: the app must not start with it.
    """
    text = credentials.get("base_url") or default
    if not text:
        return None
    try:
        return parse_url(text.rstrip("/"))
    except MalformedURL as exc:
        raise ToolConfigError(f"the {provider} base_url is not a usable URL: {exc}") from None


async def call_json(
    context: ToolContext, method: str, url: URL | str, *, service: str, **options: Any
) -> Any:
    """Call a JSON API through the guarded client; statuses and bodies that are not answers raise."""
    response = await http.request(
        context, method, url, max_bytes=min(context.max_fetch_bytes, MAX_ANSWER_BYTES), **options
    )
    if response.status in (401, 403):
        raise ToolCredentialsError(f"{service} refused the request (HTTP {response.status})")
    if response.status == 429:
        raise ToolError(f"{service} is rate limiting requests (HTTP 429); try again later")
    if response.status >= 400:
        detail = http.clip(response.text().strip(), 300, "...")
        raise ToolError(f"{service} answered HTTP {response.status}: {detail}")
    try:
        return orjson.loads(response.body)
    except orjson.JSONDecodeError:
        raise ToolError(f"{service} did not answer with JSON ({response.mime_type or 'no type'})") from None


def result_count(value: Any, default: int = 5) -> int:
    number = int(value) if isinstance(value, int | float) else default
    return max(1, min(number, MAX_RESULTS))


def format_results(results: Sequence[Any], limit: int) -> str:
    """Search results as numbered blocks: title, URL, snippet."""
    blocks: list[str] = []
    for result in results:
        if not isinstance(result, Mapping):
            continue
        title = str(result.get("title") or "").strip()
        link = str(result.get("url") or "").strip()
        snippet = " ".join(str(result.get("content") or "").split())
        if not (title or link or snippet):
            continue
        lines = [f"{len(blocks) + 1}. {title or link}"]
        if link:
            lines.append(f"   URL: {link}")
        if snippet:
            lines.append(f"   {snippet}")
        blocks.append("\n".join(lines))
        if len(blocks) == limit:
            break
    return "\n\n".join(blocks)
