"""Search built-ins (SearXNG, Tavily, Wikipedia) against fake services on loopback.

The base URL and the key come from the provider's credentials, as an app configures them; the
fake's address is allow-listed in the tool context, as an operator would allow-list a private
search host.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
import pytest
from aiohttp import web

from difychat.server.net import AllowList, GuardedClient
from difychat.server.tools.base import (
    TextOutput,
    ToolConfigError,
    ToolContext,
    ToolCredentialsError,
    ToolError,
    ToolParameterError,
)
from difychat.server.tools.builtin import definition
from difychat.server.tools.parameters import arguments, form_values
from tests.fakes.web import FakeSite, page

pytestmark = pytest.mark.anyio

RESULTS = [
    {
        "title": "Tide - Wikipedia",
        "url": "https://en.wikipedia.org/wiki/Tide",
        "content": "Tides are  the rise",
    },
    {"title": "", "url": "", "content": ""},
    {"title": "Tide tables", "url": "https://tides.example/tables", "content": "Tables for\nevery port"},
]


@pytest.fixture
async def site() -> AsyncIterator[FakeSite]:
    async with FakeSite() as running:
        yield running


def json_answer(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(value), status=status, content_type="application/json")


async def call(
    provider: str,
    tool: str,
    model_args: Mapping[str, Any],
    credentials: Mapping[str, str] | None = None,
    tool_parameters: Mapping[str, Any] | None = None,
    allow: AllowList | None = None,
) -> str:
    found = definition(provider)
    assert found is not None
    built = found.build(credentials).tool(tool)
    assert built is not None
    merged = arguments(built.spec, form_values(built.spec, tool_parameters or {}), model_args)
    context = ToolContext(http=GuardedClient(allow or AllowList.parse(["127.0.0.1"])), timeout=5.0)
    try:
        outputs = await built.invoke(merged, context)
    finally:
        await context.http.close()
    assert len(outputs) == 1 and isinstance(outputs[0], TextOutput)
    return outputs[0].text


async def test_searxng_searches_the_configured_instance(site: FakeSite) -> None:
    async def search(request: web.Request) -> web.Response:
        return json_answer({"query": request.query["q"], "results": RESULTS})

    site.route("GET", "/searx/search", search)
    text = await call(
        "searxng",
        "searxng_search",
        {"query": "what are tides"},
        {"base_url": site.url("/searx/")},
        {"search_type": "news", "max_results": 1},
    )
    assert text == "1. Tide - Wikipedia\n   URL: https://en.wikipedia.org/wiki/Tide\n   Tides are the rise"
    [request] = site.seen
    assert request.query == {"q": "what are tides", "format": "json", "categories": "news"}
    both = await call("searxng", "searxng_search", {"query": "tides"}, {"base_url": site.url("/searx")})
    assert (
        both.split("\n\n")[1]
        == "2. Tide tables\n   URL: https://tides.example/tables\n   Tables for every port"
    )


async def test_searxng_without_json_or_without_a_base_url(site: FakeSite) -> None:
    site.route("GET", "/search", page("<html>forbidden</html>", status=403))
    with pytest.raises(ToolCredentialsError) as refused:
        await call("searxng", "searxng_search", {"query": "q"}, {"base_url": site.url("/")})
    assert refused.value.observation() == "Please check your tool provider credentials"
    with pytest.raises(ToolCredentialsError):
        await call("searxng", "searxng_search", {"query": "q"})
    searxng = definition("langgenius/searxng/searxng")
    assert searxng is not None and searxng.missing_credentials({}) == ["base_url"]
    with pytest.raises(ToolConfigError, match="base_url is not a usable URL"):
        searxng.build({"base_url": "ftp://searx.internal"})
    with pytest.raises(ToolConfigError, match="has no credential api_ky"):
        searxng.build({"base_url": site.url("/"), "api_ky": "x"})


async def test_tavily_posts_the_query_with_the_key_as_a_bearer_token(site: FakeSite) -> None:
    async def search(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer tvly-secret":
            return json_answer({"detail": {"error": "Unauthorized"}}, status=401)
        return json_answer({"answer": "Tides come from the Moon.", "results": RESULTS})

    site.route("POST", "/search", search)
    credentials = {"api_key": "tvly-secret", "base_url": site.url()}
    text = await call("tavily", "tavily_search", {"query": "tides"}, credentials, {"include_answer": True})
    assert text.startswith("Answer: Tides come from the Moon.\n\n1. Tide - Wikipedia\n")
    assert orjson.loads(site.seen[0].body) == {
        "query": "tides",
        "search_depth": "basic",
        "topic": "general",
        "max_results": 5,
        "include_answer": True,
    }
    with pytest.raises(ToolCredentialsError) as refused:
        await call("tavily", "tavily_search", {"query": "tides"}, {**credentials, "api_key": "wrong"})
    assert "HTTP 401" in str(refused.value)
    with pytest.raises(ToolCredentialsError):
        await call("tavily", "tavily_search", {"query": "tides"})


async def test_service_failures_become_observations(site: FakeSite) -> None:
    site.route("POST", "/search", page("upstream exploded", content_type="text/plain", status=500))
    site.route("GET", "/search", page("<html>not json</html>"))
    with pytest.raises(ToolError) as failed:
        await call("tavily", "tavily_search", {"query": "q"}, {"api_key": "k", "base_url": site.url()})
    assert failed.value.observation() == "tool invoke error: Tavily answered HTTP 500: upstream exploded"
    with pytest.raises(ToolError, match="SearXNG did not answer with JSON"):
        await call("searxng", "searxng_search", {"query": "q"}, {"base_url": site.url()})
    with pytest.raises(ToolError, match="127.0.0.1 is not allowed"):
        await call("searxng", "searxng_search", {"query": "q"}, {"base_url": site.url()}, allow=AllowList())


async def test_wikipedia_returns_the_introductions_of_the_best_pages(site: FakeSite) -> None:
    async def api(request: web.Request) -> web.Response:
        assert request.query["gsrsearch"] == "tide"
        return json_answer(
            {
                "query": {
                    "pages": [
                        {
                            "pageid": 2,
                            "title": "Tide table",
                            "index": 2,
                            "extract": "A tide table lists tides.",
                        },
                        {"pageid": 1, "title": "Tide", "index": 1, "extract": "Tides are the rise and fall."},
                    ]
                }
            }
        )

    async def nothing(request: web.Request) -> web.Response:
        return json_answer({"batchcomplete": True})

    site.route("GET", "/de/api.php", api)
    site.route("GET", "/en/api.php", nothing)
    credentials = {"base_url": site.url("/{language}/api.php")}
    text = await call("wikipedia", "wikipedia_search", {"query": "tide", "language": "de"}, credentials)
    assert text == (
        "Page: Tide\nSummary: Tides are the rise and fall.\n\n"
        "Page: Tide table\nSummary: A tide table lists tides."
    )
    assert site.seen[0].query["generator"] == "search"
    assert await call("wikipedia", "wikipedia_search", {"query": "zzz"}, credentials) == (
        "No Wikipedia page was found for zzz."
    )
    with pytest.raises(ToolParameterError):
        await call(
            "wikipedia", "wikipedia_search", {"query": "q", "language": "en.evil.example"}, credentials
        )
