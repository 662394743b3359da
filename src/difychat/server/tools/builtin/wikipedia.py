"""``wikipedia``: the introductions of the Wikipedia pages that best match a query (MediaWiki's API)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from difychat.server.net import MalformedURL, parse_url
from difychat.server.tools.base import (
    TextOutput,
    ToolContext,
    ToolCredentialsError,
    ToolOutput,
    ToolParameter,
    ToolParameterError,
    builtin_labels,
)
from difychat.server.tools.builtin.provider import BuiltinDefinition, BuiltinTool, Credentials, spec
from difychat.server.tools.builtin.service import base_url, call_json
from difychat.server.tools.http import clip

PROVIDER = "wikipedia"
# ``{language}`` is replaced by the tool's language argument; another wiki may be configured
# (``base_url``: its ``api.php``), with or without the placeholder.
DEFAULT_API = "https://{language}.wikipedia.org/w/api.php"
PAGES = 3
MAX_EXTRACT = 4000
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})*")


def _make(credentials: Credentials) -> list[BuiltinTool]:
    template = credentials.get("base_url") or DEFAULT_API
    base_url(PROVIDER, {"base_url": template.replace("{language}", "en")})  # refuse a broken one at load

    async def search(arguments: Mapping[str, Any], context: ToolContext) -> Sequence[ToolOutput]:
        query = str(arguments.get("query") or "").strip()
        if not query:
            return [TextOutput("Please input a search query")]
        language = str(arguments.get("language") or "en").strip().lower()
        if not _LANGUAGE.fullmatch(language):
            raise ToolParameterError(
                f"language must be a Wikipedia language code such as en or zh, not {language!r}"
            )
        try:
            api = parse_url(template.replace("{language}", language))
        except MalformedURL as exc:
            raise ToolCredentialsError(f"the wikipedia base_url is not a usable URL: {exc}") from None
        params = {
            "action": "query",
            "format": "json",
            "formatversion": "2",
            "generator": "search",
            "gsrsearch": query,
            "gsrlimit": str(PAGES),
            "prop": "extracts",
            "exintro": "1",
            "explaintext": "1",
            "exlimit": str(PAGES),
            "redirects": "1",
        }
        answer = await call_json(context, "GET", api, service="Wikipedia", params=params)
        pages = answer.get("query", {}).get("pages") if isinstance(answer, Mapping) else None
        found = sorted(
            (p for p in pages or [] if isinstance(p, Mapping) and p.get("title")),
            key=lambda p: p.get("index", 0) if isinstance(p.get("index"), int) else 0,
        )
        if not found:
            return [TextOutput(f"No Wikipedia page was found for {query}.")]
        blocks = [
            f"Page: {p['title']}\nSummary: {clip(str(p.get('extract') or '').strip(), MAX_EXTRACT, '...')}"
            for p in found
        ]
        return [TextOutput(clip("\n\n".join(blocks), context.max_output_bytes))]

    return [BuiltinTool(SPECS[0], search)]


SPECS = (
    spec(
        PROVIDER,
        "wikipedia_search",
        "Look a subject up in Wikipedia and return the introductions of the best matching pages.",
        [
            ToolParameter("query", required=True, description="the subject to look up"),
            ToolParameter(
                "language", default="en", description="the Wikipedia's language code, such as en, de or zh"
            ),
        ],
        "Wikipedia Search",
        zh_Hans="维基百科搜索",
    ),
)
DEFINITION = BuiltinDefinition(
    PROVIDER,
    builtin_labels("Wikipedia", zh_Hans="维基百科"),
    SPECS,
    _make,
    optional_credentials=("base_url",),
)
