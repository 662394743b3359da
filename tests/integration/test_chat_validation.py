"""Request-side errors of POST /chat-messages, and the inputs rules of the app form.

Every rejected request must leave nothing behind: no conversation for that user.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import OTHER_APP_KEY, PLAIN_KEY, SUPPORT_KEY, RunningServer, ServerFactory
from tests.integration.helpers import (
    FAKE_ANSWER,
    assert_error,
    assert_no_conversation,
    chat,
    conversation_ids,
    list_conversations,
    new_conversation,
    random_id,
)

pytestmark = pytest.mark.anyio

BAD_REQUEST = "The browser (or proxy) sent a request that this server could not understand."
COMPANY_OPTIONS = "company in input form must be one of the following: ['Acme', 'Globex']"


async def post(client: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await client.post("/chat-messages", json=body)


async def rejected(
    client: httpx.AsyncClient,
    user: str,
    body: dict[str, Any],
    status: int,
    code: str,
    message: str | None = None,
) -> dict[str, Any]:
    """Post ``body`` for ``user``; it must fail as told and leave no conversation behind."""
    error = assert_error(await post(client, {"user": user, **body}), status, code, message)
    await assert_no_conversation(client, user)
    return error


@pytest.fixture
async def plain(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client(PLAIN_KEY) as client:
        yield client


@pytest.fixture
async def support(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client(SUPPORT_KEY) as client:
        yield client


async def test_a_missing_or_empty_user_is_400_after_authentication(server: RunningServer) -> None:
    async with server.client("app-notakeynotakeynotakey0001") as bad:
        assert_error(
            await post(bad, {"inputs": {}, "query": "hi"}), 401, "unauthorized", "Access token is invalid"
        )
    async with server.client(PLAIN_KEY) as client:
        for body in [
            {"inputs": {}, "query": "hi"},
            {"inputs": {}, "query": "hi", "user": ""},
            {"user": None},
        ]:
            assert_error(await post(client, body), 400, "invalid_param", "Arg user must be provided.")
        # The user check comes before the payload check.
        assert_error(await post(client, {"query": 5}), 400, "invalid_param", "Arg user must be provided.")


async def test_a_numeric_user_is_taken_as_its_text(plain: httpx.AsyncClient) -> None:
    conversation_id = await new_conversation(plain, 12345)
    assert await conversation_ids(plain, "12345") == [conversation_id]


async def test_a_missing_query_is_a_pydantic_400_naming_the_field(plain: httpx.AsyncClient) -> None:
    error = await rejected(plain, "u-missing-query", {"inputs": {}}, 400, "invalid_param")
    assert "query" in error["message"] and "Field required" in error["message"]


async def test_an_empty_query_is_query_is_required(plain: httpx.AsyncClient) -> None:
    await rejected(plain, "u-empty", {"inputs": {}, "query": ""}, 400, "invalid_param", "query is required")
    # A query of NUL characters only is empty once they are removed.
    await rejected(
        plain, "u-empty", {"inputs": {}, "query": "\x00\x00"}, 400, "invalid_param", "query is required"
    )


async def test_a_query_that_is_not_a_string_is_rejected_without_coercion(plain: httpx.AsyncClient) -> None:
    for query in [42, 4.5, True, ["hi"], {"text": "hi"}]:
        error = await rejected(plain, "u-typed", {"inputs": {}, "query": query}, 400, "invalid_param")
        assert "query" in error["message"]


async def test_inputs_must_be_present_and_an_object(plain: httpx.AsyncClient) -> None:
    error = await rejected(plain, "u-inputs", {"query": "hi"}, 400, "invalid_param")
    assert "inputs" in error["message"]
    for inputs in [[], "name=x", 3, None]:
        error = await rejected(plain, "u-inputs", {"query": "hi", "inputs": inputs}, 400, "invalid_param")
        assert "inputs" in error["message"]


async def test_an_unknown_response_mode_is_400_and_null_means_blocking(plain: httpx.AsyncClient) -> None:
    for mode in ["fast", "", "Blocking", 1]:
        body = {"query": "hi", "inputs": {}, "response_mode": mode}
        error = await rejected(plain, "u-mode", body, 400, "invalid_param")
        assert "response_mode" in error["message"]
    response = await post(plain, {"query": "hi", "inputs": {}, "user": "u-null-mode", "response_mode": None})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json()["answer"] == FAKE_ANSWER


async def test_a_malformed_conversation_id_is_400(plain: httpx.AsyncClient) -> None:
    for value in ["abc", "1234", random_id() + "0", 7]:
        body = {"query": "hi", "inputs": {}, "conversation_id": value}
        error = await rejected(plain, "u-bad-cid", body, 400, "invalid_param")
        assert "conversation_id" in error["message"]


async def test_an_empty_conversation_id_starts_a_new_conversation(plain: httpx.AsyncClient) -> None:
    first = await chat(plain, "u-blank-cid", conversation_id="")
    second = await chat(plain, "u-blank-cid", conversation_id="   ")
    assert first["conversation_id"] != second["conversation_id"]
    assert sorted(await conversation_ids(plain, "u-blank-cid")) == sorted(
        [first["conversation_id"], second["conversation_id"]]
    )


async def test_an_unknown_or_foreign_conversation_is_404_and_leaves_it_untouched(
    server: RunningServer,
) -> None:
    async with server.client(PLAIN_KEY) as plain, server.client(OTHER_APP_KEY) as other:
        owned = await new_conversation(plain, "owner")
        before = (await list_conversations(plain, "owner"))["data"]
        foreign_app = await new_conversation(other, "intruder")

        body = {"query": "hi", "inputs": {}, "conversation_id": random_id()}
        await rejected(plain, "intruder", body, 404, "not_found", "Conversation Not Exists.")
        # Another user of the same app.
        body = {"query": "hi", "inputs": {}, "conversation_id": owned}
        await rejected(plain, "intruder", body, 404, "not_found", "Conversation Not Exists.")
        # The same user string on another app is another user.
        body = {"query": "hi", "inputs": {}, "conversation_id": foreign_app}
        await rejected(plain, "intruder", body, 404, "not_found", "Conversation Not Exists.")

        assert (await list_conversations(plain, "owner"))["data"] == before
        history = await plain.get("/messages", params={"conversation_id": owned, "user": "owner"})
        assert len(history.json()["data"]) == 1


async def test_malformed_json_and_an_empty_json_body_are_400_bad_request(plain: httpx.AsyncClient) -> None:
    for content in [b"{not json", b'{"user": "u-json", "query": "hi"', b"", b"   "]:
        response = await plain.post(
            "/chat-messages", content=content, headers={"Content-Type": "application/json"}
        )
        assert_error(response, 400, "bad_request", BAD_REQUEST)
    await assert_no_conversation(plain, "u-json")


async def test_a_non_json_content_type_is_415(plain: httpx.AsyncClient) -> None:
    body = b'{"user": "u-plain", "query": "hi", "inputs": {}}'
    for content_type in ["text/plain", "application/x-www-form-urlencoded", None]:
        headers = {"Content-Type": content_type} if content_type else {}
        response = await plain.post("/chat-messages", content=body, headers=headers)
        assert_error(response, 415, "unsupported_media_type")
    await assert_no_conversation(plain, "u-plain")
    # The charset parameter and a +json media type are still JSON.
    response = await plain.post(
        "/chat-messages", content=body, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert response.status_code == 200, response.text


async def test_a_json_body_that_is_not_an_object_is_400_never_500(plain: httpx.AsyncClient) -> None:
    for content in [b"null", b"[]", b'[{"user": "u"}]', b'"hi"', b"42", b"true"]:
        response = await plain.post(
            "/chat-messages", content=content, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (content, response.text)
        assert response.json()["status"] == 400


async def test_a_body_over_the_limit_is_413_declared_or_chunked(make_server: ServerFactory) -> None:
    server = await make_server(max_json_body_bytes=1024)
    big = {"user": "u-big", "query": "x" * 2000, "inputs": {}}
    async with server.client(PLAIN_KEY) as client:
        response = await post(client, big)
        assert response.status_code == 413, response.text
        assert list(response.json()) == ["code", "message", "status"]
        assert response.json()["status"] == 413

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"user": "u-big", "inputs": {}, "query": "'
            for _ in range(20):
                yield b"y" * 100
            yield b'"}'

        response = await client.post(
            "/chat-messages", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413, response.text
        await assert_no_conversation(client, "u-big")
        # Under the limit still works.
        assert (await chat(client, "u-big", "x" * 500))["answer"] == FAKE_ANSWER


async def test_lenient_fields_are_accepted(plain: httpx.AsyncClient) -> None:
    body = {
        "query": "hi",
        "inputs": {},
        "user": "u-lenient",
        "response_mode": "blocking",
        "files": None,
        "auto_generate_name": True,
        "conversation_id": None,
        "retriever_from": "dev",
        "apiKey": "leaked",
        "userId": "leaked",
        "something_new": {"nested": [1, 2]},
    }
    response = await post(plain, body)
    assert response.status_code == 200, response.text
    assert response.json()["answer"] == FAKE_ANSWER


# -- inputs against the Support Bot form:
#    name (text, max 48), company (select, required), age (number), vip (checkbox)


async def test_a_missing_or_null_required_select_is_rejected(support: httpx.AsyncClient) -> None:
    for inputs in [{}, {"company": None}, {"name": "Ann"}]:
        body = {"query": "hi", "inputs": inputs}
        await rejected(support, "u-form", body, 400, "invalid_param", "company is required in input form")


async def test_a_select_value_outside_its_options_lists_them(support: httpx.AsyncClient) -> None:
    for company in ["Initech", "acme", " Acme", ""]:
        body = {"query": "hi", "inputs": {"company": company}}
        await rejected(support, "u-form", body, 400, "invalid_param", COMPANY_OPTIONS)
    body = {"query": "hi", "inputs": {"company": 3}}
    await rejected(
        support,
        "u-form",
        body,
        400,
        "invalid_param",
        "(type 'select') company in input form must be a string",
    )


async def test_text_inputs_are_strings_of_at_most_max_length(support: httpx.AsyncClient) -> None:
    body = {"query": "hi", "inputs": {"company": "Acme", "name": "n" * 49}}
    await rejected(
        support, "u-text", body, 400, "invalid_param", "name in input form must be less than 48 characters"
    )
    body = {"query": "hi", "inputs": {"company": "Acme", "name": 5}}
    await rejected(
        support,
        "u-text",
        body,
        400,
        "invalid_param",
        "(type 'text-input') name in input form must be a string",
    )
    # Exactly the limit is allowed, counted in characters, not bytes.
    name = "é" * 48
    conversation_id = await new_conversation(support, "u-text", inputs={"company": "Acme", "name": name})
    [stored] = (await list_conversations(support, "u-text"))["data"]
    assert stored["id"] == conversation_id
    assert stored["inputs"]["name"] == name


async def test_object_or_list_values_are_an_invalid_input_type(support: httpx.AsyncClient) -> None:
    for value in [["Ann"], {"first": "Ann"}, [{"a": 1}]]:
        body = {"query": "hi", "inputs": {"company": "Acme", "name": value}}
        await rejected(support, "u-type", body, 400, "invalid_param", "Invalid input type for ['name']")


async def test_number_inputs_are_coerced_from_strings(support: httpx.AsyncClient) -> None:
    body = {"query": "hi", "inputs": {"company": "Acme", "age": "forty"}}
    await rejected(support, "u-num", body, 400, "invalid_param", "age in input form must be a valid number")

    cases: list[tuple[Any, Any]] = [("42", 42), ("3.5", 3.5), (" 7 ", 7), ("", None), (12, 12), (2.25, 2.25)]
    for sent, stored in cases:
        user = f"u-num-{sent!r}"
        await new_conversation(support, user, inputs={"company": "Acme", "age": sent})
        [conversation] = (await list_conversations(support, user))["data"]
        assert conversation["inputs"]["age"] == stored, sent
        assert type(conversation["inputs"]["age"]) is type(stored), sent


async def test_checkbox_words_and_zero_one_become_booleans(support: httpx.AsyncClient) -> None:
    cases: list[tuple[Any, Any]] = [
        ("yes", True),
        ("OFF", False),
        (" true ", True),
        (1, True),
        (0, False),
        (True, True),
    ]
    for sent, stored in cases:
        user = f"u-vip-{sent!r}"
        await new_conversation(support, user, inputs={"company": "Globex", "vip": sent})
        [conversation] = (await list_conversations(support, user))["data"]
        assert conversation["inputs"]["vip"] is stored, sent


async def test_unknown_input_keys_are_dropped_from_what_is_stored(support: httpx.AsyncClient) -> None:
    inputs = {"extra": "dropped", "company": "Acme", "name": "Ann", "zzz": 1}
    conversation_id = await new_conversation(support, "u-drop", inputs=inputs)
    expected = {"name": "Ann", "company": "Acme", "age": None, "vip": None}

    [conversation] = (await list_conversations(support, "u-drop"))["data"]
    assert conversation["inputs"] == expected
    assert list(conversation["inputs"]) == list(expected)  # form order
    assert conversation["introduction"] == "Hi Ann, how can I help?"

    history = await support.get("/messages", params={"conversation_id": conversation_id, "user": "u-drop"})
    assert history.status_code == 200
    [message] = history.json()["data"]
    assert message["inputs"] == expected


async def test_a_follow_up_turn_validates_its_own_inputs(support: httpx.AsyncClient) -> None:
    conversation_id = await new_conversation(support, "u-follow", inputs={"company": "Acme", "name": "Ann"})
    body = {"query": "again", "inputs": {}, "user": "u-follow", "conversation_id": conversation_id}
    assert_error(await post(support, body), 400, "invalid_param", "company is required in input form")
    await chat(support, "u-follow", "again", inputs={"company": "Globex"}, conversation_id=conversation_id)
    history = await support.get("/messages", params={"conversation_id": conversation_id, "user": "u-follow"})
    messages = history.json()["data"]
    assert [m["query"] for m in messages] == ["hi", "again"]  # the rejected turn wrote nothing
    assert messages[1]["inputs"]["company"] == "Globex"


async def test_number_strings_that_are_not_finite_numbers_are_rejected(support: httpx.AsyncClient) -> None:
    for sent in ["nan", "NaN", "inf", "-Infinity", "1e999", "9" * 400]:
        body = {"query": "hi", "inputs": {"company": "Acme", "age": sent}}
        await rejected(
            support, "u-nan", body, 400, "invalid_param", "age in input form must be a valid number"
        )


async def test_a_number_string_beyond_64_bits_is_stored_and_listed_as_a_float(
    support: httpx.AsyncClient,
) -> None:
    huge = "1" + "0" * 30
    conversation_id = await new_conversation(support, "u-huge", inputs={"company": "Acme", "age": huge})
    [conversation] = (await list_conversations(support, "u-huge"))["data"]
    assert conversation["inputs"]["age"] == 1e30
    history = await support.get("/messages", params={"conversation_id": conversation_id, "user": "u-huge"})
    assert history.status_code == 200, history.text
    assert history.json()["data"][0]["inputs"]["age"] == 1e30
