"""``webscraper``: a web page's readable text, or a document's text, fetched through the outbound guard.

The fetch goes through the context's guarded client, so the same addresses are refused as for
``remote_url`` chat files, on every redirect hop. The download stops at ``max_fetch_bytes`` (a
page is read up to there; a document that does not fit is refused, being unreadable in part),
and the answer at ``max_output_bytes``. Parsing runs in a worker thread: a large page must not
hold the event loop.
"""

from __future__ import annotations

import asyncio
import mimetypes
from collections.abc import Mapping, Sequence
from typing import Any

from yarl import URL

from difychat.server.documents.extract import ExtractionError, extract_text
from difychat.server.tools import http
from difychat.server.tools.base import (
    TextOutput,
    ToolContext,
    ToolError,
    ToolOutput,
    ToolParameter,
)
from difychat.server.tools.builtin.provider import BuiltinDefinition, BuiltinTool, Credentials, spec

PROVIDER = "webscraper"
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SUMMARY_UNAVAILABLE = "(A summary cannot be generated here; the page's text follows.)"
_HTML = frozenset({"text/html", "application/xhtml+xml"})
_TEXT = frozenset({"application/json", "application/xml", "application/x-yaml", "application/yaml"})
_DOCUMENTS = {
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}
# Parsing costs time in proportion to the markup: a page's readable text never needs more than this.
MAX_HTML_BYTES = 2 * 1024 * 1024
_ACCEPT = "text/html,application/xhtml+xml,text/plain;q=0.9,application/pdf;q=0.8,*/*;q=0.5"


def _kind(response: http.Response) -> str | None:
    """``html``, ``text``, ``pdf`` or ``docx``; None for a type this tool cannot read."""
    mime = response.mime_type or (mimetypes.guess_type(URL(response.url).path)[0] or "text/html")
    if mime in _HTML:
        return "html"
    if mime.startswith("text/") or mime in _TEXT:
        return "text"
    return _DOCUMENTS.get(mime)


def _stop_early(response: http.Response) -> http.Response | None:
    """Answer without reading the body when it would not be used."""
    return response if response.status != 200 or _kind(response) is None else None


def page(title: str, author: str, text: str) -> str:
    return f"TITLE: {title}\nAUTHOR: {author}\nTEXT:\n\n{text}"


async def _scrape(arguments: Mapping[str, Any], context: ToolContext) -> Sequence[ToolOutput]:
    url = str(arguments.get("url") or "").strip()
    if not url:
        return [TextOutput("Please input url")]
    agent = str(arguments.get("user_agent") or DEFAULT_USER_AGENT)
    response = await http.request(
        context,
        "GET",
        url,
        max_bytes=context.max_fetch_bytes,
        truncate=True,
        early=_stop_early,
        headers={"User-Agent": agent, "Accept": _ACCEPT},
    )
    if response.status != 200:
        return [TextOutput(f"URL returned status code {response.status}.")]
    kind = _kind(response)
    if kind is None:
        return [TextOutput(f"Unsupported content-type [{response.mime_type}] of URL.")]
    text = await _read(kind, response, context)
    if arguments.get("generate_summary") is True:
        text = f"{SUMMARY_UNAVAILABLE}\n\n{text}"
    return [TextOutput(http.clip(text, context.max_output_bytes))]


async def _read(kind: str, response: http.Response, context: ToolContext) -> str:
    if kind == "html":
        # BeautifulSoup loads with the first page read, not with the server.
        from difychat.server.documents.readable import readable

        article = await asyncio.to_thread(readable, response.body[:MAX_HTML_BYTES], response.charset)
        return page(article.title, article.author, article.text)
    if kind == "text":
        return response.text()
    if response.truncated:
        raise ToolError(f"the document is larger than {context.max_fetch_bytes} bytes")
    try:
        text = await asyncio.to_thread(
            extract_text, response.body, kind, response.mime_type, max_chars=context.max_output_bytes
        )
    except ExtractionError as exc:
        raise ToolError(str(exc)) from None
    return text or ""


SPECS = (
    spec(
        PROVIDER,
        "webscraper",
        "Read a web page or an online document (PDF, DOCX) and return its text.",
        [
            ToolParameter("url", required=True, description="the http or https URL to read"),
            ToolParameter(
                "user_agent",
                form="form",
                default=DEFAULT_USER_AGENT,
                description="the User-Agent header sent with the request",
            ),
            ToolParameter(
                "generate_summary",
                type="boolean",
                form="form",
                default=False,
                description="summarise the text (not available here: the text is returned)",
            ),
        ],
        "Web Scraper",
        zh_Hans="网页爬虫",
        pt_BR="Raspador da Web",
        ja_JP="ウェブスクレイパー",
    ),
)


def _make(credentials: Credentials) -> list[BuiltinTool]:
    return [BuiltinTool(SPECS[0], _scrape)]


DEFINITION = BuiltinDefinition(PROVIDER, SPECS[0].labels, SPECS, _make)
