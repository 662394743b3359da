"""The edge's rules for what a request says: JSON bodies and query strings without NULs, JSON depth,
visible text, page offsets."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from starlette.types import Message, Receive, Scope, Send

from difychat.server.api.middleware import NulFreeRequests
from difychat.server.api.parsing import MAX_JSON_DEPTH, TOO_DEEP, decode_json
from difychat.server.domain.values import has_visible_text
from difychat.server.errors import BadRequest
from difychat.server.store.paging import MAX_OFFSET, page_offset

pytestmark = pytest.mark.anyio


def test_nul_characters_go_from_every_string_and_key_of_a_json_body() -> None:
    body = orjson.dumps({"q\x00": "a\x00b", "list": ["\x00", {"k": ["x\x00"]}], "n": 1, "none": None})
    assert decode_json(body) == {"q": "ab", "list": ["", {"k": ["x"]}], "n": 1, "none": None}
    assert decode_json(b'"\\u0000x"') == "x"
    assert decode_json(b'"\\\\u0000"') == "\\u0000"  # an escaped backslash: text, not a NUL


def test_json_is_read_up_to_the_depth_limit_and_refused_past_it() -> None:
    deepest = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert decode_json(deepest) is not None
    for too_deep in (
        b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
        b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1),
        b'{"files":' + b"[" * 1000 + b"]" * 1000 + b"}",
    ):
        with pytest.raises(BadRequest) as caught:
            decode_json(too_deep)
        assert (caught.value.status, caught.value.message) == (400, TOO_DEEP)
    # Brackets inside strings are text: such a body is shallow whatever it holds.
    assert decode_json(orjson.dumps({"q": "[{" * 500})) == {"q": "[{" * 500}
    with pytest.raises(BadRequest):  # past the JSON reader's own limit: malformed, 400 too
        decode_json(b"[" * 5000 + b"]" * 5000)


async def _through(scope: dict[str, Any]) -> Scope:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    async def receive() -> Message:
        return {"type": "http.request"}

    async def send(message: Message) -> None:
        pass

    await NulFreeRequests(app)(scope, receive, send)
    return seen[0]


async def test_query_strings_and_paths_lose_their_nuls_and_nothing_else() -> None:
    scope = await _through(
        {"type": "http", "path": "/v1/a\x00b", "query_string": b"u%00ser=a%00b&x=%25%2B+1&y"}
    )
    assert scope["path"] == "/v1/ab"
    assert scope["query_string"] == b"user=ab&x=%25%2B+1&y="
    raw = await _through({"type": "http", "path": "/", "query_string": b"user=a\x00b&z=%%0000"})
    assert raw["query_string"] == b"user=ab&z=%2500"  # "%%0000" read as "%", NUL, "00"
    untouched = {"type": "http", "path": "/v1/x", "query_string": b"a=%2500&b=c"}
    assert await _through(untouched) is untouched


@pytest.mark.parametrize("text", ["a", " x ", "\x01a", "名", "🙂", "a\u200b"])
def test_visible_text(text: str) -> None:
    assert has_visible_text(text)


@pytest.mark.parametrize(
    "text", ["", " ", "\t\n", "\x01\x02\x7f", "\u200b\u200d\ufeff", "\u2028\u3000", "\ue000"]
)
def test_text_with_nothing_to_show(text: str) -> None:
    assert not has_visible_text(text)


def test_page_offsets_never_pass_what_a_database_integer_holds() -> None:
    assert page_offset(1, 20) == 0 and page_offset(3, 20) == 40
    assert page_offset(2**63 - 1, 101) == MAX_OFFSET < 2**63
