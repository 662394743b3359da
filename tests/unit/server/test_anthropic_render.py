"""How the Anthropic adapter renders typed prompt parts and completion params into a Messages request."""

from __future__ import annotations

from typing import cast

import aiohttp
import pytest

from difychat.server.errors import ProviderNotInitialized
from difychat.server.providers import anthropic
from difychat.server.providers.base import ModelRequest, ToolDefinition
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
# Rendering needs no network: the adapter is never asked to send.
NO_SESSION = cast(aiohttp.ClientSession, None)


WEATHER = ToolDefinition("weather", "The weather", {"type": "object", "properties": {}, "required": []})


def claude(
    messages: list[PromptMessage], *, tools: tuple[ToolDefinition, ...] = (), **params: object
) -> dict[str, object]:
    model = anthropic.AnthropicModel(
        NO_SESSION, model="claude-x", base_url="https://api.anthropic.com", api_key="k", timeout=5
    )
    return model.body(ModelRequest(messages, dict(params), tools), stream=False)


def test_anthropic_system_is_top_level_and_max_tokens_always_set() -> None:
    body = claude([PromptMessage("system", "be brief"), PromptMessage("user", "hi")])
    assert body == {
        "model": "claude-x",
        "max_tokens": anthropic.DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": "hi"}],
        "system": "be brief",
    }
    assert "system" not in claude([PromptMessage("user", "hi")])


def test_anthropic_params_stop_becomes_stop_sequences_and_openai_only_params_are_dropped() -> None:
    body = claude(
        [PromptMessage("user", "hi")],
        max_tokens=77,
        temperature=0.2,
        top_p=0.9,
        top_k=5,
        stop="END",
        presence_penalty=1,
        seed=3,
    )
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["top_k"]) == (77, 0.2, 0.9, 5)
    assert body["stop_sequences"] == ["END"]
    assert "presence_penalty" not in body and "seed" not in body and "stop" not in body
    assert claude([PromptMessage("user", "hi")], stop=["A", "B"])["stop_sequences"] == ["A", "B"]


def test_anthropic_images_are_base64_or_url_sources_after_the_text() -> None:
    files = PreparedFiles(
        images=[ImagePart(data=PNG, mime_type="image/png"), ImagePart(url="https://x/b.jpg")],
        documents=[DocumentPart("a.txt", "A")],
    )
    body = claude(files.attach_to([PromptMessage("user", "q")]))
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": '<file name="a.txt">\nA\n</file>\n\nq'},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
                {"type": "image", "source": {"type": "url", "url": "https://x/b.jpg"}},
            ],
        }
    ]
    data_url = claude([PromptMessage("user", (ImagePart(url=f"data:image/gif;base64,{PNG_B64}"),))])
    assert data_url["messages"][0]["content"] == [  # type: ignore[index]
        {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": PNG_B64}}
    ]


def test_anthropic_tool_use_and_tool_results_in_a_user_turn() -> None:
    body = claude(
        [
            PromptMessage("user", "weather?"),
            PromptMessage(
                "assistant", (TextPart("checking"), ToolCallPart("t1", "weather", '{"city": "Oslo"}'))
            ),
            PromptMessage(
                "tool", (ToolResultPart("t1", "rain"), ToolResultPart("t2", "no such city", is_error=True))
            ),
        ],
        tools=(WEATHER,),
    )
    assert body["messages"][1:] == [  # type: ignore[index]
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "checking"},
                {"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Oslo"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "rain"},
                {"type": "tool_result", "tool_use_id": "t2", "content": "no such city", "is_error": True},
            ],
        },
    ]


def test_anthropic_url_with_or_without_v1() -> None:
    for base in ("https://gw.example", "https://gw.example/", "https://gw.example/v1"):
        model = anthropic.AnthropicModel(NO_SESSION, model="m", base_url=base, api_key=None, timeout=1)
        assert model._url == "https://gw.example/v1/messages"


def test_anthropic_needs_a_key_or_its_own_endpoint() -> None:
    with pytest.raises(ProviderNotInitialized, match="set model.api_key"):
        anthropic.build_anthropic(NO_SESSION, model="m", base_url=None, api_key=None, timeout=1)
