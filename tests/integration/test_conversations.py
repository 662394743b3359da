"""GET /conversations, POST /conversations/{id}/name, DELETE /conversations/{id}, and conversation names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from difychat.server.store.schema import conversations
from tests.integration.conftest import OTHER_APP_KEY, PLAIN_KEY, SUPPORT_KEY, RunningServer
from tests.integration.helpers import (
    CONVERSATION_KEYS,
    FAKE_TITLE,
    assert_error,
    chat,
    conversation_ids,
    database,
    list_conversations,
    new_conversation,
    poll,
    random_id,
)

pytestmark = pytest.mark.anyio

NOT_EXISTS = "Conversation Not Exists."
LAST_NOT_EXISTS = "Last Conversation Not Exists."


@pytest.fixture
async def plain(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client(PLAIN_KEY) as client:
        yield client


async def walk(
    client: httpx.AsyncClient, user: str, *, limit: int, sort_by: str | None = None
) -> list[list[str]]:
    """Every page of the user's conversations, following ``last_id`` until ``has_more`` is false."""
    pages: list[list[str]] = []
    last_id: str | None = None
    while True:
        params: dict[str, Any] = {"user": user, "limit": limit}
        if sort_by is not None:
            params["sort_by"] = sort_by
        if last_id is not None:
            params["last_id"] = last_id
        response = await client.get("/conversations", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["limit"] == limit
        ids = [c["id"] for c in body["data"]]
        pages.append(ids)
        assert len(pages) <= 50, "pagination does not end"
        if not body["has_more"]:
            return pages
        assert len(ids) == limit  # has_more is only set on a full page
        last_id = ids[-1]


# -- listing


async def test_the_list_items_have_the_contract_keys_types_and_filled_introduction(
    server: RunningServer,
) -> None:
    async with server.client(SUPPORT_KEY) as client:
        answer = await chat(
            client, "ann", inputs={"company": "Acme", "name": "Ann"}, auto_generate_name=False
        )
        response = await client.get("/conversations", params={"user": "ann"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == ["limit", "has_more", "data"]
    assert body["limit"] == 20 and body["has_more"] is False
    [item] = body["data"]
    assert list(item) == CONVERSATION_KEYS
    assert item["id"] == answer["conversation_id"]
    assert item["name"] == "hi"
    assert item["inputs"] == {"name": "Ann", "company": "Acme", "age": None, "vip": None}
    assert item["status"] == "normal"
    assert item["introduction"] == "Hi Ann, how can I help?"
    for key in ("created_at", "updated_at"):
        assert type(item[key]) is int
    assert abs(item["created_at"] - answer["created_at"]) <= 1
    assert item["updated_at"] >= item["created_at"]


async def test_all_four_sort_orders_and_the_default_most_recently_updated_first(
    plain: httpx.AsyncClient,
) -> None:
    a = await new_conversation(plain, "sorter", "first")
    b = await new_conversation(plain, "sorter", "second")
    c = await new_conversation(plain, "sorter", "third")
    await chat(plain, "sorter", "again", conversation_id=a)  # a is now the most recently updated

    async def order(sort_by: str | None) -> list[str]:
        params = {"user": "sorter"} if sort_by is None else {"user": "sorter", "sort_by": sort_by}
        response = await plain.get("/conversations", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["data"]]

    assert await order(None) == [a, c, b]
    assert await order("-updated_at") == [a, c, b]
    assert await order("updated_at") == [b, c, a]
    assert await order("created_at") == [a, b, c]
    assert await order("-created_at") == [c, b, a]


async def test_bad_sort_by_and_limit_values_are_400(plain: httpx.AsyncClient) -> None:
    await new_conversation(plain, "bounds")
    bad: list[dict[str, Any]] = [
        {"sort_by": "name"},
        {"sort_by": "updated"},
        {"sort_by": "+created_at"},
        {"limit": 0},
        {"limit": 101},
        {"limit": -1},
        {"limit": "ten"},
        {"limit": "2.5"},
        {"last_id": "not-a-uuid"},
    ]
    for params in bad:
        assert_error(
            await plain.get("/conversations", params={"user": "bounds", **params}), 400, "invalid_param"
        )
    for limit in (1, 100):
        response = await plain.get("/conversations", params={"user": "bounds", "limit": limit})
        assert response.status_code == 200 and response.json()["limit"] == limit


async def test_keyset_pages_visit_every_conversation_exactly_once(plain: httpx.AsyncClient) -> None:
    created = [await new_conversation(plain, "pager", f"q{i}") for i in range(5)]
    for sort_by in ("-updated_at", "updated_at", "created_at", "-created_at"):
        pages = await walk(plain, "pager", limit=2, sort_by=sort_by)
        assert [len(p) for p in pages] == [2, 2, 1], sort_by
        flat = [i for page in pages for i in page]
        expected = created if sort_by.lstrip("-") == "created_at" and not sort_by.startswith("-") else None
        assert sorted(flat) == sorted(created), sort_by
        if expected is not None:
            assert flat == expected
    # A page that ends exactly at the last conversation says there is no more.
    pages = await walk(plain, "pager", limit=5)
    assert pages == [list(reversed(created))]


async def test_keyset_pages_never_skip_or_repeat_conversations_with_tied_timestamps(
    server: RunningServer,
) -> None:
    async with server.client(PLAIN_KEY) as plain:
        created = [await new_conversation(plain, "ties", f"q{i}") for i in range(7)]
        tied = datetime(2025, 1, 2, 3, 4, 5)
        async with database(server) as engine, engine.begin() as conn:
            await conn.execute(
                sa.update(conversations)
                .where(conversations.c.id.in_(created))
                .values(created_at=tied, updated_at=tied)
            )
        for sort_by in ("-updated_at", "updated_at", "created_at", "-created_at"):
            for limit in (1, 2, 3):
                flat = [i for page in await walk(plain, "ties", limit=limit, sort_by=sort_by) for i in page]
                assert len(flat) == len(set(flat)) == 7, (sort_by, limit)
                assert set(flat) == set(created)
        [first] = (await list_conversations(plain, "ties", limit=1))["data"]
        assert first["created_at"] == first["updated_at"] == 1735787045


async def test_an_unknown_or_foreign_last_id_is_404(server: RunningServer) -> None:
    async with server.client(PLAIN_KEY) as plain, server.client(OTHER_APP_KEY) as other:
        await new_conversation(plain, "owner")
        theirs = await new_conversation(plain, "someone-else")
        other_app = await new_conversation(other, "owner")
        for last_id in (random_id(), theirs, other_app):
            response = await plain.get("/conversations", params={"user": "owner", "last_id": last_id})
            assert_error(response, 404, "not_found", LAST_NOT_EXISTS)
        # For a user never seen, too.
        response = await plain.get("/conversations", params={"user": "nobody", "last_id": theirs})
        assert_error(response, 404, "not_found", LAST_NOT_EXISTS)
        # An empty last_id means none.
        response = await plain.get("/conversations", params={"user": "owner", "last_id": ""})
        assert response.status_code == 200 and len(response.json()["data"]) == 1


async def test_unknown_query_params_and_a_json_content_type_on_get_are_tolerated(
    plain: httpx.AsyncClient,
) -> None:
    conversation_id = await new_conversation(plain, "sdk-user")
    params = {"user": "sdk-user", "pinned": "True", "first_id": "", "limit": "20"}
    response = await plain.get("/conversations", params=params, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert [c["id"] for c in response.json()["data"]] == [conversation_id]
    response = await plain.get(
        "/conversations", params={"user": "sdk-user", "first_id": "whatever", "pinned": "false", "x": "1"}
    )
    assert [c["id"] for c in response.json()["data"]] == [conversation_id]


async def test_duplicate_content_type_and_accept_headers_are_tolerated(server: RunningServer) -> None:
    headers = [
        ("Authorization", f"Bearer {PLAIN_KEY}"),
        ("Content-Type", "application/json"),
        ("Content-Type", "application/json"),
        ("Accept", "application/json"),
        ("Accept", "application/json"),
    ]
    async with httpx.AsyncClient(base_url=server.base_url + "/v1", timeout=30) as client:
        response = await client.post(
            "/chat-messages",
            content=b'{"inputs": {}, "query": "hi", "user": "java", "auto_generate_name": true}',
            headers=headers,
        )
        assert response.status_code == 200, response.text
        conversation_id = response.json()["conversation_id"]
        response = await client.get(
            "/conversations", params={"user": "java", "sort_by": "-updated_at", "limit": 20}, headers=headers
        )
        assert response.status_code == 200, response.text
        assert [c["id"] for c in response.json()["data"]] == [conversation_id]
        response = await client.request(
            "DELETE", f"/conversations/{conversation_id}", content=b'{"user": "java"}', headers=headers
        )
        assert response.status_code == 204, response.text


async def test_another_users_or_another_apps_conversations_are_never_listed(server: RunningServer) -> None:
    async with server.client(PLAIN_KEY) as plain, server.client(OTHER_APP_KEY) as other:
        mine = await new_conversation(plain, "alice")
        await new_conversation(plain, "bob")
        await new_conversation(other, "alice")
        assert await conversation_ids(plain, "alice") == [mine]
        assert len(await conversation_ids(other, "alice")) == 1
        assert mine not in await conversation_ids(other, "alice")


async def test_a_user_never_seen_gets_an_empty_list(plain: httpx.AsyncClient) -> None:
    await new_conversation(plain, "someone")
    response = await plain.get("/conversations", params={"user": "never-seen", "limit": 7})
    assert response.status_code == 200
    assert response.json() == {"limit": 7, "has_more": False, "data": []}


async def test_without_user_the_default_user_is_listed(plain: httpx.AsyncClient) -> None:
    await new_conversation(plain, "alice")
    assert (await plain.get("/conversations")).json()["data"] == []
    default = await new_conversation(plain, "DEFAULT-USER")
    assert [c["id"] for c in (await plain.get("/conversations")).json()["data"]] == [default]


# -- names


async def test_the_name_at_creation_is_the_query_cut_to_20_characters(plain: httpx.AsyncClient) -> None:
    cases = {
        "short question": "short question",
        "exactly twenty chars": "exactly twenty chars",
        "twenty-one characters": "twenty-one character\u2026",
        "Ünïcödé characters are counted as characters": "Ünïcödé characters a\u2026",
    }
    for query, name in cases.items():
        user = f"namer-{len(query)}"
        await new_conversation(plain, user, query, auto_generate_name=False)
        [item] = (await list_conversations(plain, user))["data"]
        assert item["name"] == name, query
        assert len(item["name"]) <= 21


async def test_a_background_title_replaces_the_name_only_when_auto_generate_name_is_on(
    server: RunningServer,
) -> None:
    async with server.client(PLAIN_KEY) as plain:
        titled = await new_conversation(
            plain, "titles", "please name this conversation", auto_generate_name=True
        )
        kept = await new_conversation(plain, "titles", "please keep this long name", auto_generate_name=False)

        async def names() -> dict[str, str]:
            return {c["id"]: c["name"] for c in (await list_conversations(plain, "titles"))["data"]}

        async def titled_yet() -> bool:
            return (await names())[titled] == FAKE_TITLE

        assert await poll(titled_yet), await names()
        assert (await names())[kept] == "please keep this lon\u2026"
    # Exactly one title request went to the model (a non-streaming completion).
    assert len(server.upstream.chat_requests(stream=False)) == 1


async def test_a_title_answer_without_json_falls_back_to_the_whole_query(server: RunningServer) -> None:
    server.upstream.behaviour.completion = "I cannot produce JSON today"
    query = "how do I reset my router password"
    async with server.client(PLAIN_KEY) as plain:
        conversation_id = await new_conversation(plain, "fallback", query, auto_generate_name=True)

        async def name() -> str:
            [item] = (await list_conversations(plain, "fallback"))["data"]
            assert item["id"] == conversation_id
            return str(item["name"])

        async def renamed() -> bool:
            return await name() != "how do I reset my ro\u2026"

        assert await poll(renamed), await name()
        assert await name() == query


async def test_a_manual_rename_returns_the_conversation_object(plain: httpx.AsyncClient) -> None:
    conversation_id = await new_conversation(plain, "renamer", "original question")
    [before] = (await list_conversations(plain, "renamer"))["data"]
    response = await plain.post(
        f"/conversations/{conversation_id}/name", json={"name": "  My trip to Kyoto  ", "user": "renamer"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == CONVERSATION_KEYS
    assert body["id"] == conversation_id
    assert body["name"] == "My trip to Kyoto"
    assert body["created_at"] == before["created_at"]
    assert body["updated_at"] >= before["updated_at"]
    [after] = (await list_conversations(plain, "renamer"))["data"]
    assert after == body


async def test_a_rename_without_a_name_is_400(plain: httpx.AsyncClient) -> None:
    conversation_id = await new_conversation(plain, "renamer", "kept name")
    for body in [
        {"name": "", "user": "renamer"},
        {"name": "   ", "user": "renamer"},
        {"user": "renamer"},
        {"name": None, "auto_generate": False, "user": "renamer"},
    ]:
        error = assert_error(
            await plain.post(f"/conversations/{conversation_id}/name", json=body), 400, "invalid_param"
        )
        assert "name is required" in error["message"]
    [item] = (await list_conversations(plain, "renamer"))["data"]
    assert item["name"] == "kept name"


async def test_an_auto_generated_rename_asks_the_model_for_a_title(plain: httpx.AsyncClient) -> None:
    conversation_id = await new_conversation(
        plain, "auto", "what is the weather in Paris", auto_generate_name=False
    )
    response = await plain.post(
        f"/conversations/{conversation_id}/name", json={"auto_generate": True, "user": "auto"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == FAKE_TITLE
    assert (await list_conversations(plain, "auto"))["data"][0]["name"] == FAKE_TITLE
    # What the Java client sends: an empty name beside auto_generate.
    response = await plain.post(
        f"/conversations/{conversation_id}/name", json={"name": "", "auto_generate": True, "user": "auto"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == FAKE_TITLE


async def test_a_failed_auto_generated_rename_keeps_the_old_name(server: RunningServer) -> None:
    async with server.client(PLAIN_KEY) as plain:
        conversation_id = await new_conversation(plain, "auto", "keep me", auto_generate_name=False)
        server.upstream.behaviour.status = 500
        response = await plain.post(
            f"/conversations/{conversation_id}/name", json={"auto_generate": True, "user": "auto"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "keep me"
        assert list(response.json()) == CONVERSATION_KEYS


async def test_renaming_a_foreign_unknown_or_malformed_conversation_is_a_json_404(
    server: RunningServer,
) -> None:
    async with server.client(PLAIN_KEY) as plain, server.client(OTHER_APP_KEY) as other:
        theirs = await new_conversation(plain, "owner", "owner's name")
        other_app = await new_conversation(other, "intruder")
        for path_id in (theirs, other_app, random_id(), "not-a-uuid", "123"):
            for body in ({"name": "stolen", "user": "intruder"}, {"auto_generate": True, "user": "intruder"}):
                response = await plain.post(f"/conversations/{path_id}/name", json=body)
                assert_error(response, 404, "not_found", NOT_EXISTS)
        # Without user, the default user does not own it either.
        assert_error(
            await plain.post(f"/conversations/{theirs}/name", json={"name": "x"}),
            404,
            "not_found",
            NOT_EXISTS,
        )
        assert (await list_conversations(plain, "owner"))["data"][0]["name"] == "owner's name"


# -- delete


async def test_delete_is_204_with_an_empty_body_and_then_404(plain: httpx.AsyncClient) -> None:
    doomed = await new_conversation(plain, "deleter", "doomed")
    survivor = await new_conversation(plain, "deleter", "survivor")
    history = await plain.get("/messages", params={"conversation_id": doomed, "user": "deleter"})
    [message] = history.json()["data"]
    response = await plain.post(
        f"/messages/{message['id']}/feedbacks", json={"rating": "like", "user": "deleter"}
    )
    assert response.status_code == 200

    response = await plain.request("DELETE", f"/conversations/{doomed}", json={"user": "deleter"})
    assert response.status_code == 204
    assert response.content == b""

    response = await plain.request("DELETE", f"/conversations/{doomed}", json={"user": "deleter"})
    assert_error(response, 404, "not_found", NOT_EXISTS)
    assert await conversation_ids(plain, "deleter") == [survivor]
    # Its messages are gone with it.
    response = await plain.get("/messages", params={"conversation_id": doomed, "user": "deleter"})
    assert_error(response, 404, "not_found", NOT_EXISTS)
    response = await plain.post(
        f"/messages/{message['id']}/feedbacks", json={"rating": "like", "user": "deleter"}
    )
    assert_error(response, 404, "not_found", "Message Not Exists.")
    assert (await plain.get("/app/feedbacks")).json() == {"data": []}
    # A follow-up turn cannot revive it.
    body = {"query": "hi", "inputs": {}, "user": "deleter", "conversation_id": doomed}
    assert_error(await plain.post("/chat-messages", json=body), 404, "not_found", NOT_EXISTS)


async def test_deleting_a_foreign_conversation_is_404_and_it_survives(server: RunningServer) -> None:
    async with server.client(PLAIN_KEY) as plain, server.client(OTHER_APP_KEY) as other:
        theirs = await new_conversation(plain, "owner")
        for client, user in ((plain, "intruder"), (other, "owner"), (plain, None)):
            body = {} if user is None else {"user": user}
            response = await client.request("DELETE", f"/conversations/{theirs}", json=body)
            assert_error(response, 404, "not_found", NOT_EXISTS)
        assert await conversation_ids(plain, "owner") == [theirs]
        history = await plain.get("/messages", params={"conversation_id": theirs, "user": "owner"})
        assert len(history.json()["data"]) == 1


async def test_deleting_a_malformed_id_is_a_json_404(plain: httpx.AsyncClient) -> None:
    for path_id in ("abc", "not-a-uuid", "1234"):
        response = await plain.request("DELETE", f"/conversations/{path_id}", json={"user": "x"})
        assert_error(response, 404, "not_found", NOT_EXISTS)


async def test_delete_with_an_empty_body_acts_for_the_default_user(plain: httpx.AsyncClient) -> None:
    alices = await new_conversation(plain, "alice")
    defaults = await new_conversation(plain, "DEFAULT-USER")
    json_header = {"Content-Type": "application/json"}
    # An empty body with a JSON content type (what the SDKs send) is not a parse error.
    assert_error(
        await plain.delete(f"/conversations/{alices}", headers=json_header), 404, "not_found", NOT_EXISTS
    )
    response = await plain.delete(f"/conversations/{defaults}", headers=json_header)
    assert response.status_code == 204 and response.content == b""
    assert await conversation_ids(plain, "alice") == [alices]
    assert (await plain.get("/conversations")).json()["data"] == []


async def test_delete_with_a_non_json_or_broken_body_is_rejected(plain: httpx.AsyncClient) -> None:
    conversation_id = await new_conversation(plain, "alice")
    response = await plain.request(
        "DELETE",
        f"/conversations/{conversation_id}",
        content=b'{"user": "alice"}',
        headers={"Content-Type": "text/plain"},
    )
    assert_error(response, 415, "unsupported_media_type")
    response = await plain.request(
        "DELETE",
        f"/conversations/{conversation_id}",
        content=b'{"user": ',
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 400, "bad_request")
    assert await conversation_ids(plain, "alice") == [conversation_id]
