"""Tool calling through both adapters, against the fakes over real loopback HTTP: the tools are
offered in each wire format, streamed calls are assembled from their pieces (parallel calls
interleaved), blocking answers carry them too, and earlier calls and results are rendered back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from difychat.server.providers.anthropic import build_anthropic
from difychat.server.providers.base import ChatModel, ModelRequest, ToolCall, ToolDefinition
from difychat.server.providers.openai_compatible import build_openai_compatible
from difychat.server.providers.prompt import PromptMessage, TextPart, ToolCallPart, ToolResultPart
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.upstream import FakeUpstream, Round, ScriptedCall

pytestmark = pytest.mark.anyio

WEATHER = ToolDefinition(
    "weather",
    "The weather in a city",
    {"type": "object", "properties": {"city": {"type": "string", "description": ""}}, "required": ["city"]},
)
CLOCK = ToolDefinition("current_time", "The time", {"type": "object", "properties": {}, "required": []})
REQUEST = ModelRequest(
    [
        PromptMessage("system", "Use tools."),
        PromptMessage("user", "weather?"),
        PromptMessage(
            "assistant", (TextPart("Checking."), ToolCallPart("call_1", "weather", '{"city": "Oslo"}'))
        ),
        PromptMessage("tool", (ToolResultPart("call_1", "rain"),)),
        PromptMessage("user", "and the time?"),
    ],
    tools=(WEATHER, CLOCK),
)
ROUND = Round(
    chunks=["Let me ", "look."],
    calls=[
        ScriptedCall("weather", '{"city": "Paris"}', id="call_a"),
        ScriptedCall("current_time", "{}", id="call_b"),
    ],
)
EXPECTED = (ToolCall("call_a", "weather", '{"city": "Paris"}'), ToolCall("call_b", "current_time", "{}"))


@pytest.fixture(scope="module")
def anthropic_server() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic().start()
    yield server
    server.stop()


@pytest.fixture
def anthropic(anthropic_server: FakeAnthropic) -> FakeAnthropic:
    anthropic_server.reset()
    return anthropic_server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def streamed(model: ChatModel, request: ModelRequest) -> tuple[str, tuple[ToolCall, ...]]:
    text, calls = "", tuple[ToolCall, ...]()
    async for chunk in model.stream(request):
        text += chunk.text
        calls = chunk.tool_calls or calls
    return text, calls


async def test_openai_compatible_offers_tools_and_assembles_streamed_parallel_calls(
    upstream: FakeUpstream, session: aiohttp.ClientSession
) -> None:
    model = build_openai_compatible(
        session, model="fake-model", base_url=upstream.base_url, api_key="sk", timeout=10
    )
    upstream.behaviour.rounds = [ROUND]
    assert await streamed(model, REQUEST) == ("Let me look.", EXPECTED)
    body = upstream.requests[-1].body
    assert body["tools"][0] == {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "The weather in a city",
            "parameters": WEATHER.parameters,
        },
    }
    assert body["messages"][2:4] == [
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "rain"},
    ]


async def test_openai_compatible_blocking_answers_carry_their_calls(
    upstream: FakeUpstream, session: aiohttp.ClientSession
) -> None:
    model = build_openai_compatible(
        session, model="fake-model", base_url=upstream.base_url, api_key="sk", timeout=10
    )
    upstream.behaviour.rounds = [ROUND]
    result = await model.complete(REQUEST)
    assert (result.text, result.tool_calls) == ("Let me look.", EXPECTED)
    assert result.usage is not None and result.usage.prompt_tokens == 11


async def test_openai_compatible_plain_requests_send_no_tools(
    upstream: FakeUpstream, session: aiohttp.ClientSession
) -> None:
    model = build_openai_compatible(
        session, model="fake-model", base_url=upstream.base_url, api_key="sk", timeout=10
    )
    text, calls = await streamed(model, ModelRequest([PromptMessage("user", "hi")]))
    assert calls == () and text == "Hello from the fake model."
    assert "tools" not in upstream.requests[-1].body


async def test_anthropic_offers_tools_and_assembles_tool_use_blocks(
    anthropic: FakeAnthropic, session: aiohttp.ClientSession
) -> None:
    model = build_anthropic(
        session, model="claude-test", base_url=anthropic.base_url, api_key="k", timeout=10
    )
    anthropic.behaviour.rounds = [ROUND]
    assert await streamed(model, REQUEST) == ("Let me look.", EXPECTED)
    body = anthropic.last().body
    assert body["tools"][1] == {
        "name": "current_time",
        "description": "The time",
        "input_schema": CLOCK.parameters,
    }
    assert body["messages"][1:3] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Oslo"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "rain"}]},
    ]


async def test_anthropic_blocking_answers_carry_their_calls(
    anthropic: FakeAnthropic, session: aiohttp.ClientSession
) -> None:
    model = build_anthropic(
        session, model="claude-test", base_url=anthropic.base_url, api_key="k", timeout=10
    )
    anthropic.behaviour.rounds = [ROUND]
    result = await model.complete(REQUEST)
    assert result.text == "Let me look."
    assert [(c.id, c.name, json.loads(c.arguments)) for c in result.tool_calls] == [
        ("call_a", "weather", {"city": "Paris"}),
        ("call_b", "current_time", {}),
    ]


async def test_anthropic_writes_earlier_tool_blocks_as_text_when_no_tools_are_offered(
    anthropic: FakeAnthropic, session: aiohttp.ClientSession
) -> None:
    # The API refuses tool_use/tool_result blocks in a request without tools (an agent's last round).
    model = build_anthropic(
        session, model="claude-test", base_url=anthropic.base_url, api_key="k", timeout=10
    )
    body = model.body(ModelRequest(REQUEST.messages), stream=True)
    assert "tools" not in body
    assert body["messages"][1:3] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": 'Checking.\n\n[called the tool weather with {"city": "Oslo"}]'}
            ],
        },
        {"role": "user", "content": [{"type": "text", "text": "[the tool answered: rain]"}]},
    ]
