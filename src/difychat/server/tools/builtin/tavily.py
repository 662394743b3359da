"""``tavily``: web search through Tavily's API (or a service that speaks it), with an API key."""

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

PROVIDER = "tavily"
DEFAULT_BASE_URL = "https://api.tavily.com"


def _make(credentials: Credentials) -> list[BuiltinTool]:
    base = base_url(PROVIDER, credentials, DEFAULT_BASE_URL)
    key = credentials.get("api_key")

    async def search(arguments: Mapping[str, Any], context: ToolContext) -> Sequence[ToolOutput]:
        if base is None or not key:
            raise ToolCredentialsError("tavily needs the api_key credential")
        query = str(arguments.get("query") or "").strip()
        if not query:
            return [TextOutput("Please input a search query")]
        limit = result_count(arguments.get("max_results"))
        body = {
            "query": query,
            "search_depth": arguments.get("search_depth") or "basic",
            "topic": arguments.get("topic") or "general",
            "max_results": limit,
            "include_answer": bool(arguments.get("include_answer")),
        }
        answer = await call_json(
            context,
            "POST",
            base / "search",
            service="Tavily",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
        )
        if not isinstance(answer, Mapping):
            answer = {}
        results = answer.get("results")
        parts = []
        if isinstance(answer.get("answer"), str) and answer["answer"].strip():
            parts.append(f"Answer: {answer['answer'].strip()}")
        listed = format_results(results if isinstance(results, list) else [], limit)
        if listed:
            parts.append(listed)
        text = "\n\n".join(parts) or f"No results were found for {query}."
        return [TextOutput(clip(text, context.max_output_bytes))]

    return [BuiltinTool(SPECS[0], search)]


SPECS = (
    spec(
        PROVIDER,
        "tavily_search",
        "Search the web and return the top results: title, URL and a snippet of each, optionally a short "
        "answer.",
        [
            ToolParameter("query", required=True, description="what to search for"),
            ToolParameter(
                "search_depth", type="select", form="form", default="basic", options=("basic", "advanced")
            ),
            ToolParameter(
                "topic", type="select", form="form", default="general", options=("general", "news")
            ),
            ToolParameter("max_results", type="number", form="form", default=5, description="1 to 20"),
            ToolParameter("include_answer", type="boolean", form="form", default=False),
        ],
        "Tavily Search",
        zh_Hans="Tavily 搜索",
    ),
)
DEFINITION = BuiltinDefinition(
    PROVIDER,
    builtin_labels("Tavily"),
    SPECS,
    _make,
    required_credentials=("api_key",),
    optional_credentials=("base_url",),
)
