"""The provider seam: typed prompt parts, how each provider renders them, and the one error table."""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from difychat.server.errors import ModelNotSupported, ProviderError
from difychat.server.providers import openai_compatible
from difychat.server.providers.failures import (
    BY_STATUS,
    Failure,
    failure,
    in_stream_error,
    status_error,
    transport_error,
)
from difychat.server.providers.prompt import (
    DocumentPart,
    ImagePart,
    PromptMessage,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from difychat.server.services.files import PreparedFiles

PNG = b"\x89PNG\r\n\x1a\nfake"
PNG_B64 = "iVBORw0KGgpmYWtl"


def openai(messages: list[PromptMessage]) -> list[dict[str, object]]:
    return openai_compatible._messages(messages)


# --- parts ----------------------------------------------------------------------------------------


def test_an_image_has_a_url_or_bytes_never_both_or_neither() -> None:
    with pytest.raises(ValueError):
        ImagePart()
    with pytest.raises(ValueError):
        ImagePart(url="https://x/a.png", data=b"x")
    assert ImagePart(data=PNG).data_url() == f"data:image/png;base64,{PNG_B64}"
    assert ImagePart(url="https://x/a.png").data_url() == "https://x/a.png"


def test_plain_text_is_the_cheap_path_and_reads_as_one_text_part() -> None:
    message = PromptMessage("user", "hello")
    assert message.parts == (TextPart("hello"),)
    assert message.text() == "hello"
    typed = PromptMessage("user", (DocumentPart("a.txt", "body"), TextPart("q"), ImagePart(data=PNG)))
    assert typed.text() == '<file name="a.txt">\nbody\n</file>\n\nq'


def test_attached_files_become_parts_of_the_last_user_message() -> None:
    files = PreparedFiles(
        images=[ImagePart(data=PNG, detail="low")], documents=[DocumentPart("a.txt", "body")]
    )
    messages = files.attach_to([PromptMessage("system", "sys"), PromptMessage("user", "what?")])
    assert messages[0] == PromptMessage("system", "sys")
    assert messages[1].content == (
        DocumentPart("a.txt", "body"),
        TextPart("what?"),
        ImagePart(data=PNG, detail="low"),
    )
    assert PreparedFiles().attach_to(messages[:1]) == messages[:1]


# --- OpenAI rendering: the bytes of today ----------------------------------------------------


def test_openai_plain_messages_are_role_and_content_strings() -> None:
    assert openai([PromptMessage("system", "s"), PromptMessage("user", "u")]) == [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "u"},
    ]


def test_openai_documents_without_images_are_one_content_string() -> None:
    files = PreparedFiles(documents=[DocumentPart("a.txt", "A"), DocumentPart("b.txt", "B")])
    (rendered,) = openai(files.attach_to([PromptMessage("user", "q")]))
    assert rendered == {
        "role": "user",
        "content": '<file name="a.txt">\nA\n</file>\n\n<file name="b.txt">\nB\n</file>\n\nq',
    }


def test_openai_images_make_a_text_part_then_image_url_parts() -> None:
    files = PreparedFiles(
        images=[ImagePart(data=PNG, mime_type="image/png", detail="low"), ImagePart(url="https://x/b.jpg")],
        documents=[DocumentPart("a.txt", "A")],
    )
    (rendered,) = openai(files.attach_to([PromptMessage("user", "q")]))
    assert rendered == {
        "role": "user",
        "content": [
            {"type": "text", "text": '<file name="a.txt">\nA\n</file>\n\nq'},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "https://x/b.jpg", "detail": "auto"}},
        ],
    }


def test_openai_tool_calls_and_results() -> None:
    rendered = openai(
        [
            PromptMessage("assistant", (TextPart("looking"), ToolCallPart("c1", "lookup", '{"q": "x"}'))),
            PromptMessage("tool", (ToolResultPart("c1", "42"), ToolResultPart("c2", "boom", is_error=True))),
        ]
    )
    assert rendered == [
        {
            "role": "assistant",
            "content": "looking",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
        {"role": "tool", "tool_call_id": "c2", "content": "boom"},
    ]
    (call_only,) = openai([PromptMessage("assistant", (ToolCallPart("c1", "f", "{}"),))])
    assert call_only["content"] is None and len(call_only["tool_calls"]) == 1  # type: ignore[arg-type]


# --- the error table ------------------------------------------------------------------------------


def body(kind: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})


@pytest.mark.parametrize(
    ("status", "error", "text"),
    [
        (401, ProviderError, "Incorrect API key provided"),
        # The contract: a model that is not available is model_currently_not_support, whatever the
        # endpoint (chat, speech, embeddings) and whatever the provider's wording.
        (404, ModelNotSupported, "[p] Error code: 404 - gone"),
        # The contract: provider rate limits are completion_request_error (400), not a 429.
        (429, ProviderError, "[p] Rate limit exceeded: gone"),
        (500, ProviderError, "[p] Error code: 500 - gone"),
        (529, ProviderError, "[p] Error code: 529 - gone"),
    ],
)
def test_http_statuses_map_to_the_contract(status: int, error: type[ProviderError], text: str) -> None:
    for raw in (body("any", "gone"), orjson.dumps({"error": {"message": "gone"}})):
        mapped = status_error("p", status, raw)
        assert type(mapped) is error and mapped.message == text
        assert mapped.status == 400
    assert status_error("p", 404, b"").code == "model_currently_not_support"
    assert status_error("p", 429, b"").code == "completion_request_error"


def test_every_status_row_is_a_400_with_a_contract_code() -> None:
    codes = {"completion_request_error", "model_currently_not_support", "provider_not_initialize"}
    for rule in BY_STATUS.values():
        assert rule.error.status == 400 and rule.error.code in codes
    for kind in Failure:
        error = failure(kind, "p", "x")
        assert error.status == 400 and error.code in codes


def test_error_bodies_that_are_not_json_are_quoted() -> None:
    assert (
        status_error("p", 502, b"<html>bad gateway</html>").message
        == "[p] Error code: 502 - <html>bad gateway</html>"
    )


def test_in_stream_errors_map_by_their_type() -> None:
    overloaded = in_stream_error("anthropic", {"type": "overloaded_error", "message": "Overloaded"})
    assert overloaded.code == "completion_request_error"
    assert overloaded.message == "[anthropic] Error code: 529 - Overloaded"
    assert (
        in_stream_error("p", {"type": "not_found_error", "message": "m"}).code
        == "model_currently_not_support"
    )
    untyped = in_stream_error("openai", {"message": "overloaded mid-stream"})
    assert untyped.message == "[openai] Error: overloaded mid-stream"


def test_transport_failures() -> None:
    assert transport_error("p", TimeoutError(), "u").message == "[p] Error: Request timed out."
    cut = transport_error("p", aiohttp.ServerDisconnectedError(), "u")
    assert cut.message == "[p] Error: the model's stream was cut off."
    other = transport_error("p", aiohttp.ClientError("weird"), "u")
    assert other.message == "[p] Error: ClientError: weird" and other.code == "completion_request_error"
    assert failure(Failure.NOT_CONFIGURED, "p", "set x.").code == "provider_not_initialize"
