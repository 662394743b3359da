"""OpenAPI tools against a fake API on loopback: requests as the document says, auth, and answers.

The fake's address is allow-listed in the tool context, as an operator would allow-list an
internal API; without that, the same request is refused before it connects.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web

from difychat.server.domain.agent import OpenAPIToolProvider
from difychat.server.net import AllowList, GuardedClient
from difychat.server.tools.base import (
    BlobOutput,
    JsonOutput,
    TextOutput,
    ToolContext,
    ToolError,
    ToolOutput,
    ToolParameterError,
)
from difychat.server.tools.openapi import OpenAPIProvider, load_provider
from difychat.server.tools.parameters import arguments
from tests.fakes.web import FakeSite, page

pytestmark = pytest.mark.anyio


def document(server: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Orders", "version": "1"},
        "servers": [{"url": server}],
        "paths": {
            "/orders/{orderId}": {
                "get": {
                    "operationId": "getOrder",
                    "parameters": [
                        {"name": "orderId", "in": "path", "required": True, "schema": {"type": "string"}},
                        {
                            "name": "expand",
                            "in": "query",
                            "schema": {"type": "array", "items": {"type": "string"}},
                        },
                        {"name": "X-Locale", "in": "header", "schema": {"type": "string"}},
                    ],
                }
            },
            "/orders": {
                "post": {
                    "operationId": "createOrder",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["item"],
                                    "properties": {"item": {"type": "string"}, "count": {"type": "integer"}},
                                }
                            }
                        }
                    },
                }
            },
            "/broken": {"get": {"operationId": "broken"}},
            "/html": {"get": {"operationId": "html"}},
            "/report": {"get": {"operationId": "report"}},
            "/empty": {"delete": {"operationId": "empty"}},
            "/huge": {"get": {"operationId": "huge"}},
        },
    }


def json_answer(value: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(value), status=status, content_type="application/json")


@pytest.fixture
async def api() -> AsyncIterator[FakeSite]:
    async with FakeSite() as site:

        async def get_order(request: web.Request) -> web.Response:
            segment = request.raw_path.split("?", 1)[0].rsplit("/", 1)[1]
            return json_answer({"id": segment, "status": "shipped", "note": "déjà"})

        async def create(request: web.Request) -> web.Response:
            return json_answer({"created": await request.json()}, status=201)

        async def huge(request: web.Request) -> web.Response:
            return json_answer({"rows": ["x" * 100] * 10_000})

        site.route("GET", "/api/orders/42", get_order)
        site.route("GET", "/api/orders/a/b", get_order)
        site.route("POST", "/api/orders", create)
        site.route("GET", "/api/broken", page('{"error": "database down"}', "application/json", status=500))
        site.route("GET", "/api/html", page("<html><body>Please log in</body></html>"))
        site.route("GET", "/api/report", page(b"%PDF-1.4 report", "application/pdf"))
        site.route("DELETE", "/api/empty", page(b"", "text/plain", status=204))
        site.route("GET", "/api/huge", huge)
        yield site


def provider(site: FakeSite, **config: Any) -> OpenAPIProvider:
    entry = {"name": "orders", "openapi": orjson.dumps(document(site.url("/api"))).decode(), **config}
    return load_provider(OpenAPIToolProvider.model_validate(entry))


async def call(
    tools: OpenAPIProvider, name: str, model_args: Mapping[str, Any], allow: AllowList | None = None
) -> list[ToolOutput]:
    [tool] = [t for t in await tools.tools() if t.spec.name == name]
    context = ToolContext(
        http=GuardedClient(allow or AllowList.parse(["127.0.0.1"])), max_output_bytes=64 * 1024
    )
    try:
        return list(await tool.invoke(arguments(tool.spec, {}, model_args), context))
    finally:
        await context.http.close()


async def test_a_get_with_path_query_and_header_parameters_and_an_api_key(api: FakeSite) -> None:
    tools = provider(
        api,
        credentials={"auth_type": "api_key_header", "api_key_header": "X-API-Key", "api_key_value": "k-123"},
        headers={"X-Tenant": "acme"},
    )
    outputs = await call(
        tools, "getOrder", {"orderId": "42", "expand": ["items", "customer"], "X-Locale": "fr"}
    )
    assert outputs == [JsonOutput({"id": "42", "status": "shipped", "note": "déjà"})]
    [seen] = api.seen
    assert seen.method == "GET" and seen.path == "/api/orders/42"
    assert seen.headers["X-API-Key"] == "k-123" and seen.headers["X-Tenant"] == "acme"
    assert seen.headers["X-Locale"] == "fr"
    assert seen.headers.getall("X-API-Key") == ["k-123"]
    assert seen.query_string == "expand=items&expand=customer"


async def test_bearer_basic_and_query_keys(api: FakeSite) -> None:
    bearer = {"auth_type": "api_key_header", "api_key_header_prefix": "bearer", "api_key_value": "tok"}
    await call(provider(api, credentials=bearer), "getOrder", {"orderId": "42"})
    assert api.seen[-1].headers["Authorization"] == "Bearer tok"
    basic = {"auth_type": "api_key_header", "api_key_header_prefix": "basic", "api_key_value": "user:pw"}
    await call(provider(api, credentials=basic), "getOrder", {"orderId": "42"})
    assert api.seen[-1].headers["Authorization"] == "Basic " + base64.b64encode(b"user:pw").decode()
    query = {"auth_type": "api_key_query", "api_key_query_param": "apikey", "api_key_value": "q-1"}
    await call(provider(api, credentials=query), "getOrder", {"orderId": "42"})
    assert api.seen[-1].query == {"apikey": "q-1"}


async def test_a_json_body_from_the_models_arguments(api: FakeSite) -> None:
    outputs = await call(provider(api), "createOrder", {"item": "tea", "count": "3"})
    assert outputs == [JsonOutput({"created": {"item": "tea", "count": 3}})]
    assert api.seen[-1].headers["Content-Type"] == "application/json"
    with pytest.raises(ToolParameterError) as missing:
        await call(provider(api), "createOrder", {"count": 3})
    assert missing.value.observation() == (
        "tool parameters validation error: Missing required parameter item, please check your tool parameters"
    )


async def test_errors_and_html_pages_become_observations(api: FakeSite) -> None:
    tools = provider(api)
    with pytest.raises(ToolError) as failed:
        await call(tools, "broken", {})
    assert (
        failed.value.observation()
        == 'tool invoke error: the API answered HTTP 500: {"error": "database down"}'
    )
    with pytest.raises(ToolError) as html:
        await call(tools, "html", {})
    assert (
        html.value.observation()
        == "tool invoke error: the API answered with an HTML page (HTTP 200), not data"
    )
    assert await call(tools, "empty", {}) == [TextOutput("the API answered HTTP 204 with no content")]
    [blob] = await call(tools, "report", {})
    assert blob == BlobOutput(b"%PDF-1.4 report", "application/pdf", "report")


async def test_path_values_stay_one_segment(api: FakeSite) -> None:
    tools = provider(api)
    assert await call(tools, "getOrder", {"orderId": "a/b"}) == [
        JsonOutput({"id": "a%2Fb", "status": "shipped", "note": "déjà"})
    ]
    for climbing in ("..", "."):
        with pytest.raises(ToolParameterError):
            await call(tools, "getOrder", {"orderId": climbing})
    with pytest.raises(ToolParameterError, match="X-Locale cannot hold line breaks"):
        await call(tools, "getOrder", {"orderId": "1", "X-Locale": "fr\r\nX-Admin: yes"})
    assert [seen.raw_path for seen in api.seen] == ["/api/orders/a%2Fb"]


async def test_a_large_answer_is_clipped_and_a_private_api_needs_the_allow_list(api: FakeSite) -> None:
    tools = provider(api)
    [clipped] = await call(tools, "huge", {})
    assert isinstance(clipped, TextOutput) and clipped.text.endswith("\n[truncated]")
    assert len(clipped.text.encode()) <= 64 * 1024
    before = len(api.seen)
    with pytest.raises(ToolError, match="127.0.0.1 is not allowed"):
        await call(tools, "getOrder", {"orderId": "42"}, allow=AllowList())
    assert len(api.seen) == before


async def test_documents_from_a_file_and_from_a_url(api: FakeSite, tmp_path: Path) -> None:
    (tmp_path / "orders.yaml").write_text(yaml.safe_dump(document(api.url("/api")), sort_keys=False))
    from_file = load_provider(
        OpenAPIToolProvider.model_validate({"name": "orders", "openapi_path": "orders.yaml"}),
        base_dir=tmp_path,
    )
    assert [t.spec.name for t in await from_file.tools()][:2] == ["getOrder", "createOrder"]

    relative = {**document("/api"), "servers": [{"url": "/api"}]}
    api.route("GET", "/spec.json", page(orjson.dumps(relative), "application/json"))
    client = GuardedClient(AllowList.parse(["127.0.0.1"]))
    try:
        from_url = load_provider(
            OpenAPIToolProvider.model_validate({"name": "orders", "openapi_url": api.url("/spec.json")}),
            http_client=client,
        )
        assert from_url.server_url is None  # fetched when first listed
        assert len(await from_url.tools()) == 7
        assert from_url.server_url is not None and str(from_url.server_url) == api.url("/api")
        outputs = await call(from_url, "getOrder", {"orderId": "42"})
        assert outputs[0] == JsonOutput({"id": "42", "status": "shipped", "note": "déjà"})
    finally:
        await client.close()
    labels = (await from_file.tools())[0].spec.labels
    assert labels == {"en_US": "getOrder", "zh_Hans": "getOrder"}
