"""Bad input anywhere in a request is the contract's error, never a 500 and never half-written data:
NUL characters (removed from everything a request says), ids spelled other ways, page numbers past
64 bits, JSON nested too deep, the Authorization header's whitespace, names with nothing to show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from difychat.server.api.parsing import MAX_JSON_DEPTH
from tests.fakes.upstream import FakeUpstream
from tests.integration.conftest import PLAIN_KEY, RunningServer, ServerFactory
from tests.integration.every_feature_app import EVERY_FEATURE_KEY, write_apps_file
from tests.integration.helpers import assert_error, database, new_conversation
from tests.integration.knowledge_helpers import knowledge_key, make_dataset

pytestmark = pytest.mark.anyio

N = "\x00"
TOO_DEEP = f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels."


@pytest.fixture
async def server(make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream) -> RunningServer:
    write_apps_file(tmp_path / "apps.yaml", upstream)
    return await make_server()


def nul(text: str) -> str:
    """``text`` with a NUL after its first character."""
    return text[:1] + N + text[1:]


def q(text: str) -> str:
    """``text`` with a NUL after its first character, as a query string or path writes it."""
    return text[:1] + "%00" + text[1:]


def multipart(*parts: tuple[bytes, bytes]) -> tuple[bytes, dict[str, str]]:
    """A multipart body from raw (headers, data) parts: clients escape NULs in part headers,
    a hand-made body need not."""
    boundary = b"b0undary"
    body = b"".join(b"--" + boundary + b"\r\n" + head + b"\r\n\r\n" + data + b"\r\n" for head, data in parts)
    return body + b"--" + boundary + b"--\r\n", {"content-type": "multipart/form-data; boundary=b0undary"}


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text[:500]
    return response.json() if response.content and status != 204 else None


async def stored_nuls(server: RunningServer) -> list[str]:
    """Every text or JSON column of a SQLite database holding a NUL, raw or as a JSON escape.

    PostgreSQL needs no such look: it refuses a NUL in text outright, and the refusal would have
    been a 500 above."""
    found: list[str] = []
    async with database(server) as engine, engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            return found
        tables = await conn.execute(sa.text("SELECT name FROM sqlite_master WHERE type = 'table'"))
        for (table,) in list(tables):
            columns = await conn.execute(sa.text(f'PRAGMA table_info("{table}")'))
            texts = [
                row[1] for row in columns if any(t in str(row[2]).upper() for t in ("CHAR", "TEXT", "JSON"))
            ]
            for column in texts:
                hits = await conn.execute(
                    sa.text(
                        f'SELECT count(*) FROM "{table}" WHERE instr(CAST("{column}" AS TEXT), char(0)) > 0 '
                        f"OR instr(CAST(\"{column}\" AS TEXT), '\\u0000') > 0"
                    )
                )
                if hits.scalar_one():
                    found.append(f"{table}.{column}")
    return found


async def test_nul_characters_are_removed_from_every_text_field_of_every_endpoint(
    server: RunningServer,
) -> None:
    owner = nul("owner")
    upstream = server.upstream
    async with server.client(EVERY_FEATURE_KEY) as client:
        # POST /files/upload: the user field, the part's name, file name and content type.
        body, headers = multipart(
            (b'Content-Disposition: form-data; name="u\x00ser"', b"o\x00wner"),
            (
                b'Content-Disposition: form-data; name="fi\x00le"; filename="no\x00tes.txt"\r\n'
                b"Content-Type: text/pl\x00ain",
                b"some notes",
            ),
        )
        upload = ok(await client.post("/files/upload", content=body, headers=headers), 201)
        assert (upload["name"], upload["mime_type"]) == ("notes.txt", "text/plain")
        file_id = upload["id"]
        end_user = ok(await client.get(f"/end-users/{q(upload['created_by'])}"))
        assert end_user["session_id"] == "owner"

        # POST /chat-messages: query, user, inputs (keys and values), mode, ids and files.
        turn = {
            "query": nul("hello"),
            "user": owner,
            "inputs": {
                nul("name"): nul("Ada"),
                "notes": nul("xy"),
                "tone": nul("formal"),
                "age": nul("42"),
                "vip": nul("true"),
            },
            "response_mode": nul("blocking"),
            "auto_generate_name": False,
            "files": [
                {
                    "type": nul("document"),
                    "transfer_method": nul("local_file"),
                    "upload_file_id": nul(file_id),
                }
            ],
        }
        answer = ok(await client.post("/chat-messages", json=turn))
        conversation_id, message_id = answer["conversation_id"], answer["message_id"]
        prompt = upstream.chat_requests(stream=True)[-1].body["messages"]
        assert N not in str(prompt) and "hello" in str(prompt)
        again = {**turn, "conversation_id": nul(conversation_id), "response_mode": nul("streaming")}
        async with client.stream("POST", "/chat-messages", json=again) as streamed:
            assert streamed.status_code == 200
            await streamed.aread()
        ok(await client.post(f"/chat-messages/{q(message_id)}/stop", json={"user": owner}))

        # GET /messages: every query parameter.
        history = ok(
            await client.get(
                f"/messages?conversation_id={q(conversation_id)}&first_id=&user={q('owner')}&limit={q('20')}"
            )
        )
        first = history["data"][0]
        assert (first["query"], history["limit"]) == ("hello", 20)
        assert first["inputs"] == {"name": "Ada", "notes": "xy", "tone": "formal", "age": 42, "vip": True}
        assert [f["filename"] for f in first["message_files"]] == ["notes.txt"]

        # Feedback, suggested questions, the app's feedbacks.
        feedback = {"user": owner, "rating": nul("like"), "content": nul("good")}
        ok(await client.post(f"/messages/{q(message_id)}/feedbacks", json=feedback))
        ok(await client.get(f"/messages/{q(message_id)}/suggested?user={q('owner')}"))
        feedbacks = ok(await client.get(f"/app/feedbacks?page={q('1')}&limit={q('20')}"))
        assert [(f["rating"], f["content"]) for f in feedbacks["data"]] == [("like", "good")]

        # The file preview's flags.
        preview = await client.get(f"/files/{q(file_id)}/preview?as_attachment={q('true')}&user={q('owner')}")
        assert preview.status_code == 200 and preview.headers["content-disposition"].startswith("attachment")

        # Conversations: list, rename; conversation variables: list, update.
        listed = ok(await client.get(f"/conversations?user={q('owner')}&sort_by={q('-updated_at')}&last_id="))
        assert [c["id"] for c in listed["data"]] == [conversation_id]
        renamed = ok(
            await client.post(
                f"/conversations/{conversation_id}/name", json={"name": nul("Hi"), "user": owner}
            )
        )
        assert renamed["name"] == "Hi"
        variables = ok(
            await client.get(
                f"/conversations/{q(conversation_id)}/variables?user={q('owner')}&variable_name={q('customer')}"
            )
        )
        (customer,) = variables["data"]
        path = f"/conversations/{conversation_id}/variables/{q(customer['id'])}"
        assert ok(await client.put(path, json={"value": nul("Jane"), "user": owner}))["value"] == "Jane"
        profile = next(
            v
            for v in ok(await client.get(f"/conversations/{conversation_id}/variables?user=owner"))["data"]
            if v["name"] == "profile"
        )
        path = f"/conversations/{conversation_id}/variables/{profile['id']}"
        value = {nul("tier"): [nul("platinum")]}
        assert (
            ok(await client.put(path, json={"value": value, "user": owner}))["value"]
            == "{'tier': ['platinum']}"
        )

        # Speech both ways.
        body, headers = multipart(
            (b'Content-Disposition: form-data; name="user"', b"o\x00wner"),
            (
                b'Content-Disposition: form-data; name="file"; filename="cl\x00ip.mp3"\r\n'
                b"Content-Type: audio/m\x00p3",
                b"ID3 audio",
            ),
        )
        ok(await client.post("/audio-to-text", content=body, headers=headers))
        spoken = await client.post(
            "/text-to-audio", json={"text": nul("say"), "voice": nul("nova"), "user": owner}
        )
        assert spoken.status_code == 200, spoken.text
        assert (upstream.aux_requests[-1][1]["input"], upstream.aux_requests[-1][1]["voice"]) == (
            "say",
            "nova",
        )
        read_aloud = await client.post("/text-to-audio", json={"message_id": nul(message_id), "user": owner})
        assert read_aloud.status_code == 200

        # Annotations and annotation reply.
        created = ok(
            await client.post("/apps/annotations", json={"question": nul("Q?"), "answer": nul("A!")}), 201
        )
        assert (created["question"], created["answer"]) == ("Q?", "A!")
        updated = ok(
            await client.put(
                f"/apps/annotations/{q(created['id'])}", json={"question": nul("Q2"), "answer": nul("A2")}
            )
        )
        assert (updated["question"], updated["answer"]) == ("Q2", "A2")
        found = ok(await client.get(f"/apps/annotations?keyword={q('Q2')}&page={q('1')}&limit={q('20')}"))
        assert [a["id"] for a in found["data"]] == [created["id"]]
        reply = {
            "score_threshold": 0.9,
            "embedding_provider_name": nul("openai"),
            "embedding_model_name": nul("fake-embedding"),
        }
        job = ok(await client.post(f"/apps/annotation-reply/{q('enable')}", json=reply))
        ok(await client.get(f"/apps/annotation-reply/enable/status/{q(job['job_id'])}"))
        ok(await client.delete(f"/apps/annotations/{q(created['id'])}"), 204)

        # What the app says about itself ignores or never stores its query.
        for route in ("/parameters", "/meta", "/info", "/site"):
            assert (await client.get(f"{route}?user={q('owner')}")).status_code < 500

        ok(await client.request("DELETE", f"/conversations/{q(conversation_id)}", json={"user": owner}), 204)
    assert await stored_nuls(server) == []


async def test_ids_are_hyphenated_uuids_in_either_case_and_nothing_else(server: RunningServer) -> None:
    async with server.client() as client:
        conversation_id = await new_conversation(client, "u1")
        spellings = [
            "{" + conversation_id + "}",
            "urn:uuid:" + conversation_id,
            conversation_id.replace("-", ""),
        ]
        for other in spellings:
            # In a path: the route's own not-found.
            rename = await client.post(f"/conversations/{other}/name", json={"name": "x", "user": "u1"})
            assert_error(rename, 404, "not_found", "Conversation Not Exists.")
            variables = await client.get(f"/conversations/{other}/variables", params={"user": "u1"})
            assert_error(variables, 404, "not_found", "Conversation Not Exists.")
            # In a body or a query string: a bad parameter.
            turn = {"query": "x", "inputs": {}, "user": "u1", "conversation_id": other}
            assert_error(await client.post("/chat-messages", json=turn), 400, "invalid_param")
            messages = await client.get("/messages", params={"conversation_id": other, "user": "u1"})
            assert_error(messages, 400, "invalid_param", "conversation_id must be a valid UUID")
            listed = await client.get("/conversations", params={"last_id": other, "user": "u1"})
            assert_error(listed, 400, "invalid_param")
            spoken = await client.post("/text-to-audio", json={"message_id": other, "user": "u1"})
            assert spoken.status_code in (400, 404) and spoken.json()["status"] == spoken.status_code
        # Upper case is the same id, wherever it is written.
        upper = conversation_id.upper()
        renamed = await client.post(f"/conversations/{upper}/name", json={"name": "Upper", "user": "u1"})
        assert renamed.status_code == 200 and renamed.json()["id"] == conversation_id
        history = await client.get("/messages", params={"conversation_id": upper, "user": "u1"})
        assert history.status_code == 200 and history.json()["data"][0]["conversation_id"] == conversation_id


HUGE = [
    "9223372036854775808",
    "-9223372036854775809",
    "99999999999999999999999999",
    "1e400",
    "1.5",
    "0x10",
    "NaN",
    " ",
    "١٢",
]


async def test_page_and_limit_out_of_range_are_400_on_every_list(server: RunningServer) -> None:
    async with server.client() as client:
        conversation_id = await new_conversation(client, "u1")
        lists = [
            ("/messages", {"conversation_id": conversation_id, "user": "u1"}, ["limit"]),
            ("/conversations", {"user": "u1"}, ["limit"]),
            (f"/conversations/{conversation_id}/variables", {"user": "u1"}, ["limit"]),
            ("/app/feedbacks", {}, ["page", "limit"]),
            ("/apps/annotations", {}, ["page", "limit"]),
        ]
        for path, params, names in lists:
            for name in names:
                for value in [*HUGE, "9223372036854775807", "-9223372036854775808", "-1", "0"]:
                    response = await client.get(path, params={**params, name: value})
                    assert response.status_code < 500, (path, name, value, response.text)
                    if value in HUGE:
                        assert_error(response, 400, "invalid_param")
        # Within 64 bits, a page far past the data is empty; annotations clamp as the contract says.
        far = await client.get("/app/feedbacks", params={"page": "9223372036854775807", "limit": "101"})
        assert far.status_code == 200 and far.json() == {"data": []}
        clamped = await client.get(
            "/apps/annotations", params={"page": "9223372036854775807", "limit": "9223372036854775807"}
        )
        assert clamped.status_code == 200
        assert clamped.json() == {
            "data": [],
            "has_more": False,
            "limit": 9223372036854775807,
            "total": 0,
            "page": 9223372036854775807,
        }
        low = await client.get("/apps/annotations", params={"page": "-9223372036854775808", "limit": "-5"})
        assert (low.json()["page"], low.json()["limit"]) == (1, 20)


def nested(depth: int) -> str:
    """A JSON array ``depth`` levels deep, as text (the encoders have depth limits of their own)."""
    return "[" * depth + "1" + "]" * depth


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 1000])
async def test_json_nested_too_deep_is_400_wherever_it_is(server: RunningServer, depth: int) -> None:
    deep = nested(depth)
    json_type = {"content-type": "application/json"}
    async with server.client(EVERY_FEATURE_KEY) as client:
        conversation_id = await new_conversation(client, "u1")
        variables = await client.get(f"/conversations/{conversation_id}/variables", params={"user": "u1"})
        variable_id = variables.json()["data"][0]["id"]
        bodies = [
            (
                "/chat-messages",
                '{"query":"x","inputs":{},"user":"u1","files":[{"type":"image",'
                '"transfer_method":"remote_url","url":@}]}',
            ),
            ("/chat-messages", '{"query":"x","inputs":{},"user":"u1","files":@}'),
            ("/chat-messages", '{"query":"x","inputs":{"name":@},"user":"u1"}'),
            (f"/conversations/{conversation_id}/variables/{variable_id}", '{"value":@,"user":"u1"}'),
            (f"/conversations/{conversation_id}/name", '{"name":@,"user":"u1"}'),
            ("/apps/annotations", '{"question":@,"answer":"a"}'),
            ("/text-to-audio", '{"text":@,"user":"u1"}'),
        ]
        for path, template in bodies:
            method = "PUT" if "/variables/" in path else "POST"
            # The body itself is one level: the deepest body accepted has MAX_JSON_DEPTH levels.
            response = await client.request(
                method, path, content=template.replace("@", deep), headers=json_type
            )
            assert_error(response, 400, "bad_request", TOO_DEEP)
        shallow = nested(MAX_JSON_DEPTH - 1)  # inside {"value": ...}: MAX_JSON_DEPTH levels in all
        path = f"/conversations/{conversation_id}/variables/{variable_id}"
        response = await client.put(
            path, content='{"value":@,"user":"u1"}'.replace("@", shallow), headers=json_type
        )
        assert response.status_code == 400 and response.json()["code"] == "bad_request"
        assert response.json()["message"].startswith("Type mismatch")  # read, then refused for its type


@pytest.mark.parametrize("header", ["Bearer  {key}", "Bearer\t {key}", "bearer \t {key}", "BEARER \t\t{key}"])
async def test_the_authorization_scheme_ends_at_any_run_of_whitespace(
    server: RunningServer, header: str
) -> None:
    async with server.client(None) as client:
        response = await client.get("/parameters", headers={"Authorization": header.format(key=PLAIN_KEY)})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Bearer", "Authorization header must be provided and start with 'Bearer'"),
        ("Bearer{key}", "Authorization header must be provided and start with 'Bearer'"),
        ("Bearer\t{key}", "Authorization header must be provided and start with 'Bearer'"),  # no space
        ("Bearer:\t {key}", "Authorization scheme must be 'Bearer'"),
        ("Basic \t{key}", "Authorization scheme must be 'Bearer'"),
        ("Bearer\t{key} extra", "Access token is invalid"),
    ],
)
async def test_a_bad_authorization_header_is_401(server: RunningServer, header: str, message: str) -> None:
    async with server.client(None) as client:
        response = await client.get("/parameters", headers={"Authorization": header.format(key=PLAIN_KEY)})
    assert_error(response, 401, "unauthorized", message)


@pytest.mark.parametrize("name", ["\x01\x02", "\x7f", " \t\x1b ", "\u200b\u200d", "\x00", "\ufeff\u2028"])
async def test_a_name_with_nothing_to_show_is_refused_like_an_empty_one(
    server: RunningServer, name: str
) -> None:
    async with server.client() as client:
        conversation_id = await new_conversation(client, "u1")
        response = await client.post(
            f"/conversations/{conversation_id}/name", json={"name": name, "user": "u1"}
        )
        body = assert_error(response, 400, "invalid_param")
        assert "name is required when auto_generate is false" in body["message"]
        listed = await client.get("/conversations", params={"user": "u1"})
    assert listed.json()["data"][0]["name"] == "hi"  # unchanged


async def test_a_name_with_control_characters_and_text_is_kept(server: RunningServer) -> None:
    async with server.client() as client:
        conversation_id = await new_conversation(client, "u1")
        response = await client.post(
            f"/conversations/{conversation_id}/name", json={"name": "\x01Hi\x7f", "user": "u1"}
        )
    assert response.status_code == 200 and response.json()["name"] == "\x01Hi\x7f"


async def test_knowledge_lists_take_any_page_number_without_a_500(server: RunningServer) -> None:
    key = await knowledge_key(server)
    async with server.client(key) as client:
        dataset = await make_dataset(client, nul("Docs"))
        assert dataset["name"] == "Docs"
        lists = ["/datasets", f"/datasets/{dataset['id']}/documents"]
        for path in lists:
            for page in ["99999999999999999999999", "9223372036854775807", "-9223372036854775809", "x"]:
                response = await client.get(path, params={"page": page, "limit": "100", "keyword": nul("d")})
                assert response.status_code == 200, (path, page, response.text)
                assert 1 <= response.json()["page"] < 2**63
