"""``searxng``: web search through a SearXNG instance the operator runs (its JSON API)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from difychat.server.tools.base import (
    TextOutput,
    ToolContext,
    ToolCredentialsError,
    ToolOutput,
    ToolParameter,
    builtin_labels,
)
from difychat.server.tools.builtin.provider import BuiltinDefinition, BuiltinTool, Credentials, spec
from difychat.server.tools.builtin.service import base_url, call_json, format_results, result_count
from difychat.server.tools.http import clip

PROVIDER = "searxng"
CATEGORIES = ("general", "images", "videos", "news", "map", "music", "it", "science", "files", "social media")


def _make(credentials: Credentials) -> list[BuiltinTool]:
    base = base_url(PROVIDER, credentials)

    async def search(arguments: Mapping[str, Any], context: ToolContext) -> Sequence[ToolOutput]:
        if base is None:
            raise ToolCredentialsError("searxng needs the base_url credential")
        query = str(arguments.get("query") or "").strip()
        if not query:
            return [TextOutput("Please input a search query")]
        params = {"q": query, "format": "json", "categories": str(arguments.get("search_type") or "general")}
        answer = await call_json(context, "GET", base / "search", service="SearXNG", params=params)
        results = answer.get("results") if isinstance(answer, Mapping) else None
        text = format_results(
            results if isinstance(results, list) else [], result_count(arguments.get("max_results"))
        )
        return [TextOutput(clip(text or f"No results were found for {query}.", context.max_output_bytes))]

    return [BuiltinTool(SPECS[0], search)]


SPECS = (
    spec(
        PROVIDER,
        "searxng_search",
        "Search the web and return the top results: title, URL and a snippet of each.",
        [
            ToolParameter("query", required=True, description="what to search for"),
            ToolParameter(
                "search_type",
                type="select",
                form="form",
                default="general",
                options=CATEGORIES,
                description="the SearXNG category to search",
            ),
            ToolParameter("max_results", type="number", form="form", default=5, description="1 to 20"),
        ],
        "SearXNG Search",
        zh_Hans="SearXNG 搜索",
    ),
)
DEFINITION = BuiltinDefinition(
    PROVIDER,
    builtin_labels("SearXNG"),
    SPECS,
    _make,
    required_credentials=("base_url",),
)
