"""App-key authentication, the unauthenticated routes, routing errors and the headers on every response."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import yaml

from difychat.server.services import keys
from tests.integration.conftest import (
    OTHER_APP_KEY,
    PLAIN_KEY,
    SUPPORT_KEY,
    RunningServer,
    ServerFactory,
    apps_file,
)
from tests.integration.helpers import assert_error, conversation_ids, database, new_conversation, poll

pytestmark = pytest.mark.anyio

MISSING = "Authorization header must be provided and start with 'Bearer'"
BAD_SCHEME = "Authorization scheme must be 'Bearer'"
INVALID = "Access token is invalid"


def raw_client(server: RunningServer, authorization: str | None) -> httpx.AsyncClient:
    headers = {} if authorization is None else {"Authorization": authorization}
    return httpx.AsyncClient(base_url=server.base_url + "/v1", headers=headers, timeout=30)


async def get_conversations(server: RunningServer, authorization: str | None) -> httpx.Response:
    async with raw_client(server, authorization) as client:
        return await client.get("/conversations", params={"user": "alice"})


def assert_unauthorized(response: httpx.Response, message: str) -> None:
    assert_error(response, 401, "unauthorized", message)
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'


async def test_a_missing_header_or_one_without_a_space_is_401_with_the_header_message(
    server: RunningServer,
) -> None:
    for authorization in [None, "", "Bearer", f"Bearer{PLAIN_KEY}", f"Bearer\t{PLAIN_KEY}"]:
        assert_unauthorized(await get_conversations(server, authorization), MISSING)


async def test_a_scheme_other_than_bearer_is_401_with_the_scheme_message(server: RunningServer) -> None:
    for authorization in [f"Basic {PLAIN_KEY}", f"Token {PLAIN_KEY}", f"Bearer: {PLAIN_KEY}"]:
        assert_unauthorized(await get_conversations(server, authorization), BAD_SCHEME)


async def test_an_unknown_or_dataset_token_is_401_access_token_invalid(server: RunningServer) -> None:
    for token in [
        "app-unknownunknownunknown0001",
        "ds-datasetdatasetdataset0001",
        PLAIN_KEY.upper(),
        PLAIN_KEY[:-1],
    ]:
        assert_unauthorized(await get_conversations(server, f"Bearer {token}"), INVALID)


async def test_the_scheme_is_case_insensitive_and_extra_spaces_are_tolerated(server: RunningServer) -> None:
    for authorization in [f"bearer {PLAIN_KEY}", f"BEARER {PLAIN_KEY}", f"Bearer    {PLAIN_KEY}"]:
        response = await get_conversations(server, authorization)
        assert response.status_code == 200, response.text
        assert response.json() == {"limit": 20, "has_more": False, "data": []}


async def test_authentication_comes_before_everything_else_on_every_route(server: RunningServer) -> None:
    async with raw_client(server, "Bearer app-nopenopenopenopenope0001") as client:
        responses = [
            await client.post(
                "/chat-messages", content=b"{not json", headers={"Content-Type": "application/json"}
            ),
            await client.post("/chat-messages/abc/stop", json={}),
            await client.get("/messages"),
            await client.post("/messages/not-a-uuid/feedbacks", json={}),
            await client.get("/app/feedbacks", params={"page": 0}),
            await client.get("/conversations", params={"limit": 0}),
            await client.delete("/conversations/not-a-uuid"),
            await client.post("/conversations/not-a-uuid/name", json={}),
        ]
    for response in responses:
        assert_unauthorized(response, INVALID)


async def test_a_key_created_at_runtime_works_at_once_and_stops_working_when_revoked(
    make_server: ServerFactory,
) -> None:
    server = await make_server(cache_seconds=0.5)
    async with database(server) as engine:
        key = await keys.create_key(engine, "Plain")
        assert key.startswith("app-") and len(key) == 28
        async with raw_client(server, f"Bearer {key}") as client:
            created = await new_conversation(client, "alice")
            listed = await client.get("/conversations", params={"user": "alice"})
            assert listed.status_code == 200
            assert [c["id"] for c in listed.json()["data"]] == [created]
            # The new key belongs to Plain: it sees what the fixed Plain key sees.
            async with server.client(PLAIN_KEY) as plain:
                assert await conversation_ids(plain, "alice") == [created]

            assert await keys.revoke_key(engine, key) == 1
            revoked_at = time.monotonic()

            async def refused() -> bool:
                response = await client.get("/conversations", params={"user": "alice"})
                return response.status_code == 401

            # A worker may reuse a valid key for cache_seconds; after that the revocation holds.
            assert await poll(refused, timeout=5.0)
            assert time.monotonic() - revoked_at < 2.0
            assert_unauthorized(await client.get("/conversations", params={"user": "alice"}), INVALID)
        # Revoking one key leaves the app's other keys alone.
        assert (await get_conversations(server, f"Bearer {PLAIN_KEY}")).status_code == 200


async def test_with_no_cache_a_revoked_key_is_refused_at_once(make_server: ServerFactory) -> None:
    server = await make_server(cache_seconds=0)
    async with database(server) as engine:
        key = await keys.create_key(engine, "Plain")
        async with raw_client(server, f"Bearer {key}") as client:
            assert (await client.get("/conversations", params={"user": "bob"})).status_code == 200
            assert await keys.revoke_key(engine, key) == 1
            assert_unauthorized(await client.get("/conversations", params={"user": "bob"}), INVALID)


async def test_an_app_removed_from_the_apps_file_is_403_and_a_disabled_api_is_403(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    first = await make_server()
    assert (await get_conversations(first, f"Bearer {OTHER_APP_KEY}")).status_code == 200

    # Restart on the same database with an apps file that drops "Other" and disables Support Bot's API.
    config = apps_file(first.upstream)
    config["apps"] = [a for a in config["apps"] if a["name"] != "Other"]
    for app in config["apps"]:
        if app["name"] == "Support Bot":
            app["enable_api"] = False
    assert first.settings.config is not None
    Path(first.settings.config).write_text(yaml.safe_dump(config))
    second = await make_server()

    assert_error(
        await get_conversations(second, f"Bearer {OTHER_APP_KEY}"),
        403,
        "forbidden",
        "The app no longer exists.",
    )
    assert_error(
        await get_conversations(second, f"Bearer {SUPPORT_KEY}"),
        403,
        "forbidden",
        "The app's API service has been disabled.",
    )
    assert (await get_conversations(second, f"Bearer {PLAIN_KEY}")).status_code == 200
    # A 403 is not a 401: no challenge header.
    response = await get_conversations(second, f"Bearer {OTHER_APP_KEY}")
    assert "www-authenticate" not in response.headers


async def test_the_welcome_route_needs_no_key(server: RunningServer) -> None:
    async with raw_client(server, None) as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == ["welcome", "api_version", "server_version"]
    assert body == {"welcome": "Dify OpenAPI", "api_version": "v1", "server_version": "1.12.1"}


async def test_health_answers_without_a_key(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_an_unknown_path_is_a_json_404(server: RunningServer) -> None:
    headers = {"Authorization": f"Bearer {PLAIN_KEY}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as client:
        for path in ["/v1/nope", "/v1/chat-messages/extra/segments/here", "/nope", "/v2/conversations"]:
            assert_error(await client.get(path), 404, "not_found")


async def test_a_wrong_method_on_an_existing_route_is_a_json_405(server: RunningServer) -> None:
    cases = [
        ("GET", "/chat-messages"),
        ("PUT", "/conversations"),
        ("GET", "/messages/00000000-0000-0000-0000-000000000001/feedbacks"),
        ("POST", "/app/feedbacks"),
        ("GET", "/conversations/00000000-0000-0000-0000-000000000001/name"),
        ("POST", "/"),
    ]
    async with server.client() as client:
        for method, path in cases:
            response = await client.request(method, path)
            assert_error(
                response, 405, "method_not_allowed", "The method is not allowed for the requested URL."
            )


async def test_every_response_carries_the_version_and_env_headers(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        responses = [
            await client.get("/v1/"),
            await client.get("/health"),
            await client.get("/v1/conversations"),  # 401
            await client.get("/v1/nope"),  # 404
            await client.get("/v1/conversations", headers={"Authorization": f"Bearer {PLAIN_KEY}"}),
            await client.post(
                "/v1/chat-messages",
                json={"inputs": {}, "query": "hi", "user": "alice"},
                headers={"Authorization": f"Bearer {PLAIN_KEY}"},
            ),
        ]
    for response in responses:
        assert response.headers["x-version"] == "1.12.1", response.request.url
        assert response.headers["x-env"] == "PRODUCTION", response.request.url


async def test_a_cors_preflight_allows_any_origin_the_api_methods_and_headers(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        response = await client.options(
            "/v1/chat-messages",
            headers={
                "Origin": "https://chat.example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Authorization, Content-Type",
            },
        )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS"} <= methods
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed


async def test_a_cross_origin_request_exposes_the_version_headers(server: RunningServer) -> None:
    async with raw_client(server, f"Bearer {PLAIN_KEY}") as client:
        response = await client.get(
            "/conversations", params={"user": "alice"}, headers={"Origin": "https://chat.example.com"}
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"x-version", "x-env"} <= exposed
