"""GET /messages, POST /messages/{id}/feedbacks and GET /app/feedbacks."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from difychat.server.store.schema import messages
from tests.integration.conftest import OTHER_APP_KEY, PLAIN_KEY, RunningServer
from tests.integration.helpers import (
    FAKE_ANSWER,
    ZERO_UUID,
    assert_error,
    chat,
    database,
    new_conversation,
    random_id,
)

pytestmark = pytest.mark.anyio

MESSAGE_KEYS = [
    "id",
    "conversation_id",
    "parent_message_id",
    "inputs",
    "query",
    "answer",
    "feedback",
    "retriever_resources",
    "created_at",
    "agent_thoughts",
    "message_files",
    "status",
    "error",
]
FEEDBACK_KEYS = [
    "id",
    "app_id",
    "conversation_id",
    "message_id",
    "rating",
    "content",
    "from_source",
    "from_end_user_id",
    "from_account_id",
    "created_at",
    "updated_at",
]
ISO_NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?$")
NOT_EXISTS = "Message Not Exists."


@pytest.fixture
async def plain(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client(PLAIN_KEY) as client:
        yield client


async def conversation_with(client: httpx.AsyncClient, user: str, count: int) -> tuple[str, list[str]]:
    """A conversation of ``count`` turns; returns its id and the message ids, oldest first."""
    first = await chat(client, user, "q0", auto_generate_name=False)
    conversation_id = first["conversation_id"]
    ids = [first["message_id"]]
    for i in range(1, count):
        ids.append((await chat(client, user, f"q{i}", conversation_id=conversation_id))["message_id"])
    return conversation_id, ids


async def history(
    client: httpx.AsyncClient, user: str | None, conversation_id: str, **params: Any
) -> dict[str, Any]:
    query = {"conversation_id": conversation_id, **params}
    if user is not None:
        query["user"] = user
    response = await client.get("/messages", params=query)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def walk_back(
    client: httpx.AsyncClient, user: str, conversation_id: str, limit: int
) -> list[list[str]]:
    """Pages from the newest back, following ``first_id`` = the oldest message of the previous page."""
    pages: list[list[str]] = []
    first_id: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if first_id is not None:
            params["first_id"] = first_id
        body = await history(client, user, conversation_id, **params)
        assert body["limit"] == limit
        ids = [m["id"] for m in body["data"]]
        pages.append(ids)
        assert len(pages) <= 50, "paging does not end"
        if not body["has_more"]:
            return pages
        first_id = ids[0]


async def feedback(client: httpx.AsyncClient, message_id: str, **body: Any) -> httpx.Response:
    return await client.post(f"/messages/{message_id}/feedbacks", json=body)


async def rating_of(client: httpx.AsyncClient, user: str, conversation_id: str, message_id: str) -> Any:
    for item in (await history(client, user, conversation_id))["data"]:
        if item["id"] == message_id:
            return item["feedback"]
    raise AssertionError(f"message {message_id} not in the history")


# -- /messages


async def test_conversation_id_is_required_and_must_be_a_uuid(plain: httpx.AsyncClient) -> None:
    await new_conversation(plain, "alice")
    error = assert_error(await plain.get("/messages", params={"user": "alice"}), 400, "invalid_param")
    assert "conversation_id" in error["message"]
    for bad in ("abc", "1234", random_id() + "x"):
        response = await plain.get("/messages", params={"user": "alice", "conversation_id": bad})
        assert_error(response, 400, "invalid_param")
    for bad_limit in (0, 101, "x"):
        response = await plain.get(
            "/messages", params={"user": "alice", "conversation_id": random_id(), "limit": bad_limit}
        )
        assert_error(response, 400, "invalid_param")


async def test_an_empty_conversation_id_is_an_empty_page(plain: httpx.AsyncClient) -> None:
    response = await plain.get("/messages", params={"user": "alice", "conversation_id": ""})
    assert response.status_code == 200
    assert response.content == b'{"limit":20,"has_more":false,"data":[]}'
    body = await history(plain, "alice", "", limit=5)
    assert body == {"limit": 5, "has_more": False, "data": []}


async def test_a_foreign_or_unknown_conversation_is_404(server: RunningServer) -> None:
    async with server.client(PLAIN_KEY) as plain, server.client(OTHER_APP_KEY) as other:
        theirs = await new_conversation(plain, "owner")
        other_app = await new_conversation(other, "intruder")
        for user, conversation_id in (
            ("intruder", theirs),
            ("intruder", other_app),
            ("owner", random_id()),
            (None, theirs),
            ("never-seen", theirs),
        ):
            params = {"conversation_id": conversation_id}
            if user is not None:
                params["user"] = user
            response = await plain.get("/messages", params=params)
            assert_error(response, 404, "not_found", "Conversation Not Exists.")


async def test_a_message_item_has_the_contract_keys_in_order(plain: httpx.AsyncClient) -> None:
    answer = await chat(plain, "alice", "What is difychat?", auto_generate_name=False)
    body = await history(plain, "alice", answer["conversation_id"])
    assert list(body) == ["limit", "has_more", "data"]
    assert body["limit"] == 20 and body["has_more"] is False
    [item] = body["data"]
    assert list(item) == MESSAGE_KEYS
    assert item["id"] == answer["message_id"]
    assert item["conversation_id"] == answer["conversation_id"]
    assert item["parent_message_id"] == ZERO_UUID
    assert item["inputs"] == {}
    assert item["query"] == "What is difychat?"
    assert item["answer"] == FAKE_ANSWER
    assert item["feedback"] is None
    assert item["retriever_resources"] == []
    assert type(item["created_at"]) is int and item["created_at"] == answer["created_at"]
    assert item["agent_thoughts"] == [] and item["message_files"] == []
    assert item["status"] == "normal" and item["error"] is None


async def test_the_first_page_is_the_newest_messages_in_ascending_order(plain: httpx.AsyncClient) -> None:
    conversation_id, ids = await conversation_with(plain, "alice", 5)
    body = await history(plain, "alice", conversation_id, limit=2)
    assert [m["id"] for m in body["data"]] == ids[3:]
    assert [m["query"] for m in body["data"]] == ["q3", "q4"]
    assert body["has_more"] is True
    body = await history(plain, "alice", conversation_id)
    assert [m["id"] for m in body["data"]] == ids and body["has_more"] is False
    # Exactly `limit` messages in all: nothing more.
    assert (await history(plain, "alice", conversation_id, limit=5))["has_more"] is False
    assert (await history(plain, "alice", conversation_id, limit=4))["has_more"] is True


async def test_first_id_paging_walks_back_through_every_message_once(plain: httpx.AsyncClient) -> None:
    conversation_id, ids = await conversation_with(plain, "alice", 5)
    pages = await walk_back(plain, "alice", conversation_id, limit=2)
    assert pages == [ids[3:], ids[1:3], ids[:1]]
    pages = await walk_back(plain, "alice", conversation_id, limit=1)
    assert pages == [[i] for i in reversed(ids)]
    # Paging from the oldest message gives an empty last page.
    body = await history(plain, "alice", conversation_id, first_id=ids[0])
    assert body["data"] == [] and body["has_more"] is False


async def test_first_id_paging_never_skips_messages_with_tied_timestamps(server: RunningServer) -> None:
    async with server.client(PLAIN_KEY) as plain:
        conversation_id, ids = await conversation_with(plain, "alice", 6)
        tied = datetime(2025, 1, 2, 3, 4, 5)
        async with database(server) as engine, engine.begin() as conn:
            await conn.execute(sa.update(messages).where(messages.c.id.in_(ids)).values(created_at=tied))
        for limit in (1, 2, 4):
            flat = [i for page in await walk_back(plain, "alice", conversation_id, limit) for i in page]
            assert len(flat) == len(set(flat)) == 6, limit
            assert set(flat) == set(ids)


async def test_a_first_id_outside_the_conversation_is_404(plain: httpx.AsyncClient) -> None:
    conversation_id, _ = await conversation_with(plain, "alice", 2)
    _, other_ids = await conversation_with(plain, "alice", 1)
    for first_id in (other_ids[0], random_id()):
        response = await plain.get(
            "/messages", params={"user": "alice", "conversation_id": conversation_id, "first_id": first_id}
        )
        assert_error(response, 404, "not_found", "First Message Not Exists.")
    response = await plain.get(
        "/messages", params={"user": "alice", "conversation_id": conversation_id, "first_id": "nope"}
    )
    assert_error(response, 400, "invalid_param")


async def test_a_foreign_conversation_is_404_before_its_first_id_is_looked_at(server: RunningServer) -> None:
    async with server.client(PLAIN_KEY) as plain:
        theirs, their_ids = await conversation_with(plain, "owner", 2)
        await new_conversation(plain, "intruder")
        for first_id in (their_ids[1], random_id()):
            response = await plain.get(
                "/messages", params={"user": "intruder", "conversation_id": theirs, "first_id": first_id}
            )
            assert_error(response, 404, "not_found", "Conversation Not Exists.")


async def test_an_owned_conversation_without_messages_is_an_empty_page(server: RunningServer) -> None:
    async with server.client(PLAIN_KEY) as plain:
        conversation_id, ids = await conversation_with(plain, "alice", 2)
        async with database(server) as engine, engine.begin() as conn:
            await conn.execute(sa.delete(messages).where(messages.c.id.in_(ids)))
        assert await history(plain, "alice", conversation_id) == {"limit": 20, "has_more": False, "data": []}
        response = await plain.get(
            "/messages", params={"user": "alice", "conversation_id": conversation_id, "first_id": ids[1]}
        )
        assert_error(response, 404, "not_found", "First Message Not Exists.")


async def test_a_json_content_type_on_get_and_the_default_user_are_accepted(plain: httpx.AsyncClient) -> None:
    conversation_id = await new_conversation(plain, "DEFAULT-USER")
    response = await plain.get(
        "/messages", params={"conversation_id": conversation_id}, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 1


# -- feedback


async def test_like_then_dislike_then_revoke_with_null_or_absent_rating(plain: httpx.AsyncClient) -> None:
    conversation_id, [first, second] = await conversation_with(plain, "alice", 2)

    response = await feedback(plain, first, rating="like", user="alice")
    assert response.status_code == 200 and response.json() == {"result": "success"}
    assert await rating_of(plain, "alice", conversation_id, first) == {"rating": "like"}
    assert await rating_of(plain, "alice", conversation_id, second) is None

    assert (
        await feedback(plain, first, rating="dislike", user="alice", content="too short")
    ).status_code == 200
    assert await rating_of(plain, "alice", conversation_id, first) == {"rating": "dislike"}

    assert (await feedback(plain, first, rating=None, user="alice")).status_code == 200
    assert await rating_of(plain, "alice", conversation_id, first) is None

    # Java clients leave out a null rating: absent means revoke too.
    assert (await feedback(plain, second, rating="like", user="alice", content="")).status_code == 200
    assert (await feedback(plain, second, user="alice")).status_code == 200
    assert await rating_of(plain, "alice", conversation_id, second) is None


async def test_revoking_feedback_that_does_not_exist_is_400(plain: httpx.AsyncClient) -> None:
    _, [message_id] = await conversation_with(plain, "alice", 1)
    for body in ({"rating": None, "user": "alice"}, {"user": "alice"}):
        response = await feedback(plain, message_id, **body)
        assert_error(response, 400, "invalid_param", "rating cannot be None when feedback not exists")
    await feedback(plain, message_id, rating="like", user="alice")
    await feedback(plain, message_id, rating=None, user="alice")
    response = await feedback(plain, message_id, rating=None, user="alice")
    assert_error(response, 400, "invalid_param", "rating cannot be None when feedback not exists")


async def test_a_bad_rating_or_content_or_missing_user_is_400(plain: httpx.AsyncClient) -> None:
    conversation_id, [message_id] = await conversation_with(plain, "alice", 1)
    for rating in ("love", "LIKE", "", 1, True):
        assert_error(await feedback(plain, message_id, rating=rating, user="alice"), 400, "invalid_param")
    assert_error(
        await feedback(plain, message_id, rating="like", content=5, user="alice"), 400, "invalid_param"
    )
    response = await feedback(plain, message_id, rating="like")
    assert_error(response, 400, "invalid_param", "Arg user must be provided.")
    assert await rating_of(plain, "alice", conversation_id, message_id) is None


async def test_feedback_on_a_foreign_unknown_or_malformed_message_is_404(server: RunningServer) -> None:
    async with server.client(PLAIN_KEY) as plain, server.client(OTHER_APP_KEY) as other:
        conversation_id, [theirs] = await conversation_with(plain, "owner", 1)
        _, [other_app] = await conversation_with(other, "intruder", 1)
        for message_id in (theirs, other_app, random_id(), "not-a-uuid"):
            response = await feedback(plain, message_id, rating="like", user="intruder")
            assert_error(response, 404, "not_found", NOT_EXISTS)
        # The owner of a message of another app, asking through this app, is another user.
        assert_error(
            await feedback(plain, other_app, rating="like", user="owner"), 404, "not_found", NOT_EXISTS
        )
        assert await rating_of(plain, "owner", conversation_id, theirs) is None
        assert (await plain.get("/app/feedbacks")).json() == {"data": []}


async def test_feedback_shows_only_to_its_owner(server: RunningServer) -> None:
    async with server.client(PLAIN_KEY) as plain:
        conversation_id, [message_id] = await conversation_with(plain, "owner", 1)
        await feedback(plain, message_id, rating="like", user="owner")
        assert await rating_of(plain, "owner", conversation_id, message_id) == {"rating": "like"}
        response = await plain.get("/messages", params={"conversation_id": conversation_id, "user": "peeker"})
        assert_error(response, 404, "not_found", "Conversation Not Exists.")
        assert b"like" not in response.content


# -- /app/feedbacks


async def test_app_feedbacks_lists_this_apps_feedback_with_iso_timestamps(server: RunningServer) -> None:
    async with server.client(PLAIN_KEY) as plain, server.client(OTHER_APP_KEY) as other:
        conversation_id, [m1, m2] = await conversation_with(plain, "alice", 2)
        await feedback(plain, m1, rating="like", user="alice", content="great answer")
        await feedback(plain, m2, rating="dislike", user="alice")
        _, [other_message] = await conversation_with(other, "alice", 1)
        await feedback(other, other_message, rating="like", user="alice")

        response = await plain.get("/app/feedbacks", headers={"Content-Type": "application/json"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert list(body) == ["data"]
        newest, oldest = body["data"]
        assert [newest["message_id"], oldest["message_id"]] == [m2, m1]
        for item in body["data"]:
            assert list(item) == FEEDBACK_KEYS
            uuid.UUID(item["id"])
            uuid.UUID(item["app_id"])
            uuid.UUID(item["from_end_user_id"])
            assert item["from_end_user_id"] != "alice"
            assert item["conversation_id"] == conversation_id
            assert item["from_source"] == "user" and item["from_account_id"] is None
            for key in ("created_at", "updated_at"):
                assert ISO_NAIVE.match(item[key]), item[key]
                assert datetime.fromisoformat(item[key]).tzinfo is None
        assert newest["app_id"] == oldest["app_id"]
        assert newest["from_end_user_id"] == oldest["from_end_user_id"]
        assert (oldest["rating"], oldest["content"]) == ("like", "great answer")
        assert (newest["rating"], newest["content"]) == ("dislike", None)

        [theirs] = (await other.get("/app/feedbacks")).json()["data"]
        assert theirs["message_id"] == other_message
        assert theirs["app_id"] != newest["app_id"]
        assert theirs["from_end_user_id"] != newest["from_end_user_id"]  # same user string, other app

        # A revoked feedback disappears; an updated one keeps its id and created_at.
        await feedback(plain, m2, rating=None, user="alice")
        await feedback(plain, m1, rating="dislike", user="alice", content="changed my mind")
        [updated] = (await plain.get("/app/feedbacks")).json()["data"]
        assert updated["id"] == oldest["id"] and updated["created_at"] == oldest["created_at"]
        assert (updated["rating"], updated["content"]) == ("dislike", "changed my mind")
        assert updated["updated_at"] >= oldest["updated_at"]


async def test_app_feedbacks_pages_and_bounds(plain: httpx.AsyncClient) -> None:
    _, ids = await conversation_with(plain, "alice", 3)
    for message_id in ids:
        await feedback(plain, message_id, rating="like", user="alice")

    async def page(**params: Any) -> list[str]:
        response = await plain.get("/app/feedbacks", params=params)
        assert response.status_code == 200, response.text
        return [item["message_id"] for item in response.json()["data"]]

    assert await page() == list(reversed(ids))
    assert await page(page=1, limit=2) == [ids[2], ids[1]]
    assert await page(page=2, limit=2) == [ids[0]]
    assert await page(page=3, limit=2) == []
    assert await page(limit=101) == list(reversed(ids))
    assert await page(limit=1, page=3, user="ignored") == [ids[0]]
    for params in ({"page": 0}, {"page": -1}, {"limit": 0}, {"limit": 102}, {"page": "x"}, {"limit": "many"}):
        assert_error(await plain.get("/app/feedbacks", params=params), 400, "invalid_param")
