"""The Anthropic adapter against a fake Messages API over real loopback HTTP."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from difychat.server.errors import ProviderError
from difychat.server.providers.anthropic import AnthropicModel, build_anthropic
from difychat.server.providers.base import ModelChunk, ModelRequest, TokenUsage
from difychat.server.providers.prompt import ImagePart, PromptMessage, TextPart
from tests.fakes.anthropic import FakeAnthropic
from tests.integration.helpers import poll

pytestmark = pytest.mark.anyio

REQUEST = ModelRequest(
    [PromptMessage("system", "Be brief."), PromptMessage("user", "hi")], {"temperature": 0.3}
)


@pytest.fixture(scope="module")
def anthropic_server() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic().start()
    yield server
    server.stop()


@pytest.fixture
def fake(anthropic_server: FakeAnthropic) -> FakeAnthropic:
    anthropic_server.reset()
    return anthropic_server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def model(session: aiohttp.ClientSession, fake: FakeAnthropic, timeout: float = 10) -> AnthropicModel:
    return build_anthropic(
        session, model="claude-test", base_url=fake.base_url, api_key="sk-ant-test", timeout=timeout
    )


async def collect(chunks: AsyncIterator[ModelChunk]) -> tuple[str, TokenUsage | None]:
    text, usage = "", None
    async for chunk in chunks:
        text += chunk.text
        usage = chunk.usage or usage
    return text, usage


async def test_streams_text_and_reports_usage(session: aiohttp.ClientSession, fake: FakeAnthropic) -> None:
    fake.behaviour.cache_read = 100
    text, usage = await collect(model(session, fake).stream(REQUEST))
    assert text == "Hello from the fake Claude."
    # Prompt tokens count what was read from the cache as well.
    assert usage == TokenUsage(113, 6)
    sent = fake.last()

    async def sent_to_the_end() -> bool:
        # The fake marks its stream finished once its handler resumes, which may be a moment after
        # the client has read the last event.
        return sent.finished

    assert await poll(sent_to_the_end)
    assert sent.headers["x-api-key"] == "sk-ant-test"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.body == {
        "model": "claude-test",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "hi"}],
        "system": "Be brief.",
        "temperature": 0.3,
        "stream": True,
    }


async def test_complete_returns_the_whole_answer(session: aiohttp.ClientSession, fake: FakeAnthropic) -> None:
    result = await model(session, fake).complete(
        ModelRequest([PromptMessage("user", "title?")], {"max_tokens": 50})
    )
    assert result.text == "A complete answer from the fake Claude."
    assert result.usage == TokenUsage(9, 4)
    assert "stream" not in fake.last().body and fake.last().body["max_tokens"] == 50


async def test_images_and_stop_sequences_reach_the_api(
    session: aiohttp.ClientSession, fake: FakeAnthropic
) -> None:
    message = PromptMessage(
        "user", (TextPart("what is this?"), ImagePart(data=b"GIF89a", mime_type="image/gif"))
    )
    await collect(model(session, fake).stream(ModelRequest([message], {"stop": ["\n\nHuman:"], "top_k": 3})))
    body = fake.last().body
    assert body["stop_sequences"] == ["\n\nHuman:"] and body["top_k"] == 3
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": "R0lGODlh"}},
    ]


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (400, "completion_request_error", "[anthropic] Error code: 400 - something went wrong"),
        (401, "completion_request_error", "Incorrect API key provided"),
        (403, "completion_request_error", "[anthropic] Error code: 403 - something went wrong"),
        (404, "model_currently_not_support", "[anthropic] Error code: 404 - something went wrong"),
        (413, "completion_request_error", "[anthropic] Error code: 413 - something went wrong"),
        (429, "completion_request_error", "[anthropic] Rate limit exceeded: something went wrong"),
        (500, "completion_request_error", "[anthropic] Error code: 500 - something went wrong"),
        (529, "completion_request_error", "[anthropic] Error code: 529 - something went wrong"),
    ],
)
async def test_http_errors_map_through_the_table(
    session: aiohttp.ClientSession, fake: FakeAnthropic, status: int, code: str, message: str
) -> None:
    fake.behaviour.status = status
    for call in (collect(model(session, fake).stream(REQUEST)), model(session, fake).complete(REQUEST)):
        with pytest.raises(ProviderError) as caught:
            await call
        assert (caught.value.code, caught.value.status, caught.value.message) == (code, 400, message)


async def test_an_error_event_mid_stream_fails_after_the_text_so_far(
    session: aiohttp.ClientSession, fake: FakeAnthropic
) -> None:
    fake.behaviour.error_event_after = 2
    received: list[str] = []
    with pytest.raises(ProviderError) as caught:
        async for chunk in model(session, fake).stream(REQUEST):
            received.append(chunk.text)
    assert received == ["Hello", " from"]
    assert caught.value.code == "completion_request_error"
    assert caught.value.message == "[anthropic] Error code: 529 - Overloaded"


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ({"malformed_after": 1}, "[anthropic] Error: malformed event in the model's stream."),
        ({"cut_after": 1}, "[anthropic] Error: the model's stream was cut off."),
        ({"omit_stop": True}, "[anthropic] Error: the model's stream ended before the answer was complete."),
    ],
)
async def test_a_broken_stream_is_a_completion_request_error(
    session: aiohttp.ClientSession, fake: FakeAnthropic, breakage: dict[str, object], message: str
) -> None:
    for key, value in breakage.items():
        setattr(fake.behaviour, key, value)
    with pytest.raises(ProviderError) as caught:
        await collect(model(session, fake).stream(REQUEST))
    assert caught.value.code == "completion_request_error" and caught.value.message == message


async def test_transport_failures(session: aiohttp.ClientSession, fake: FakeAnthropic) -> None:
    down = build_anthropic(
        session, model="m", base_url=f"http://127.0.0.1:{closed_port()}", api_key="k", timeout=5
    )
    with pytest.raises(ProviderError, match="Connection error: cannot connect to http://127.0.0.1:"):
        await collect(down.stream(REQUEST))
    fake.behaviour.ttft = 2
    with pytest.raises(ProviderError, match=r"^\[anthropic\] Error: Request timed out\.$"):
        await collect(model(session, fake, timeout=0.5).stream(REQUEST))


async def test_closing_the_stream_closes_the_upstream_call(
    session: aiohttp.ClientSession, fake: FakeAnthropic
) -> None:
    fake.behaviour.gap = 0.2
    fake.behaviour.chunks = [f"w{i} " for i in range(20)]
    chunks = model(session, fake).stream(REQUEST)
    first = await anext(chunks)
    assert first.text == "w0 "
    await chunks.aclose()  # type: ignore[attr-defined]
    for _ in range(50):
        if fake.last().disconnected:
            break
        await asyncio.sleep(0.05)
    assert fake.last().disconnected and not fake.last().finished
