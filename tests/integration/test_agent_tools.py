"""Built-in tools inside an agent turn: POST /chat-messages, a fake model that calls them, and the
observations they produce, against pages and a search service served on loopback.

The server's outbound allow-list names 127.0.0.1 (where the fakes listen), as an operator would
allow-list an internal host; 127.0.0.2 stays refused, so a redirect there is a refusal the model
reads, never a request.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from aiohttp import web

from tests.fakes.upstream import FakeUpstream, Round, ScriptedCall
from tests.fakes.web import FakeSite, page, redirect
from tests.integration.conftest import RunningServer, ServerFactory
from tests.sse import parse_frames

pytestmark = pytest.mark.anyio

KEY = "app-builtintoolsbuiltin00001"
ARTICLE = (
    "<html><head><title>Harbour news</title><meta name='author' content='Ada Marine'></head><body>"
    "<nav>Home | About</nav><article><h1>Harbour news</h1>"
    "<p>The harbour opens at six every morning and closes when the last ferry is moored for the night.</p>"
    "</article><footer>Copyright</footer></body></html>"
)


def entry(provider: str, tool: str, **parameters: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "provider_type": "builtin",
        "provider_id": provider,
        "tool_name": tool,
        "tool_parameters": parameters,
    }


@pytest.fixture
async def site() -> AsyncIterator[FakeSite]:
    async with FakeSite() as running, FakeSite(host="127.0.0.2") as forbidden:

        async def search(request: web.Request) -> web.Response:
            results = [
                {"title": "Ferry times", "url": "https://ferry.example/times", "content": "Every hour"}
            ]
            return web.Response(body=orjson.dumps({"results": results}), content_type="application/json")

        forbidden.route("GET", "/secret", page("internal"))
        running.route("GET", "/news", page(ARTICLE))
        running.route("GET", "/moved", redirect(forbidden.url("/secret")))
        running.route("GET", "/searx/search", search)
        yield running
        assert forbidden.seen == []  # nothing ever reached the address the allow-list leaves out


@pytest.fixture
async def server(
    make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream, site: FakeSite
) -> RunningServer:
    model = {"provider": "openai", "name": "fake-model", "base_url": upstream.base_url, "api_key": "sk-test"}
    app = {
        "name": "Harbour Agent",
        "mode": "agent-chat",
        "api_keys": [KEY],
        "model": model,
        "agent_mode": {
            "enabled": True,
            "strategy": "function_call",
            "tools": [
                entry("webscraper", "webscraper", user_agent="harbour-agent/1.0"),
                entry("langgenius/calculator/calculator", "calculator"),
                entry("searxng", "searxng_search", search_type="news"),
            ],
        },
        "tools": {"searxng": {"credentials": {"base_url": site.url("/searx")}}},
    }
    (tmp_path / "apps.yaml").write_text(yaml.safe_dump({"apps": [app]}))
    return await make_server(remote_fetch_allow="127.0.0.1")


async def observations(client: httpx.AsyncClient, query: str) -> tuple[dict[str, str], str]:
    payload = {"inputs": {}, "query": query, "user": "u1", "response_mode": "streaming"}
    async with client.stream("POST", "/chat-messages", json=payload) as response:
        raw = await response.aread()
    assert response.status_code == 200, raw
    events = [frame.data for frame in parse_frames(raw) if frame.data is not None]
    observed = [e for e in events if e["event"] == "agent_thought" and e["observation"]]
    assert len(observed) == 1, events
    end = events[-1]
    assert end["event"] == "message_end", end
    found: dict[str, str] = json.loads(observed[0]["observation"])
    return found, observed[0]["tool"]


async def test_the_model_reads_a_page_calculates_and_searches(server: RunningServer, site: FakeSite) -> None:
    server.upstream.behaviour.rounds = [
        Round(
            calls=[
                ScriptedCall("webscraper", json.dumps({"url": site.url("/news")})),
                ScriptedCall("calculator", '{"expression": "6 * 7 + 2^3"}'),
                ScriptedCall("searxng_search", '{"query": "ferry"}'),
            ]
        ),
        Round(chunks=["The harbour opens at six."]),
    ]
    async with server.client(KEY) as client:
        found, tools = await observations(client, "when does the harbour open?")
    assert tools == "webscraper;calculator;searxng_search"
    assert found["webscraper"].startswith(
        "TITLE: Harbour news\nAUTHOR: Ada Marine\nTEXT:\n\n# Harbour news\n\n"
    )
    assert "Home" not in found["webscraper"] and "Copyright" not in found["webscraper"]
    assert found["calculator"] == "50"
    assert found["searxng_search"] == "1. Ferry times\n   URL: https://ferry.example/times\n   Every hour"
    page_request, search_request = site.seen
    assert page_request.headers["User-Agent"] == "harbour-agent/1.0"  # the app's form value
    assert search_request.query == {"q": "ferry", "format": "json", "categories": "news"}


async def test_refusals_and_hostile_input_become_observations(server: RunningServer, site: FakeSite) -> None:
    server.upstream.behaviour.rounds = [
        Round(
            calls=[
                ScriptedCall("webscraper", json.dumps({"url": site.url("/moved")})),
                ScriptedCall("calculator", json.dumps({"expression": "__import__('os').system('id')"})),
            ]
        ),
        Round(chunks=["I could not do that."]),
    ]
    async with server.client(KEY) as client:
        found, _ = await observations(client, "read the internal page")
    assert found["webscraper"].startswith("tool invoke error: the URL is not allowed: ")
    assert "127.0.0.2 is not allowed (loopback)" in found["webscraper"]
    assert found["calculator"] == (
        "tool invoke error: attribute access is not allowed in an arithmetic expression"
    )
