"""POST /chat-messages (and the speech routes) for an app with ``provider: anthropic``,
through the server, against a fake Anthropic Messages API over loopback."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml

from difychat.server.app import create_app
from difychat.server.providers.lines import MAX_LINE_BYTES
from difychat.server.settings import Settings
from tests.fakes.anthropic import FakeAnthropic, Record
from tests.fakes.upstream import FakeUpstream
from tests.integration.helpers import assert_error
from tests.sse import parse_frames

pytestmark = pytest.mark.anyio

CLAUDE_KEY = "app-claudeclaudeclaude00001"
VOICE_KEY = "app-claudevoiceclaudevoice01"
DOWN_KEY = "app-claudedownclaudedown0001"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def anthropic_apps(fake: FakeAnthropic, upstream: FakeUpstream) -> dict[str, Any]:
    model = {
        "provider": "anthropic",
        "name": "claude-test",
        "base_url": fake.base_url,
        "api_key": "sk-ant-test",
    }
    return {
        "apps": [
            {
                "name": "Claude",
                "api_keys": [CLAUDE_KEY],
                "model": {
                    **model,
                    "completion_params": {"max_tokens": 1024, "temperature": 0.5, "stop": ["END"]},
                },
                "pre_prompt": "You are terse.",
                "file_upload": {
                    "enabled": True,
                    "allowed_file_types": ["image"],
                    "allowed_file_upload_methods": ["local_file"],
                    "number_limits": 2,
                },
                # No endpoint of their own: Anthropic has no speech models.
                "speech_to_text": {"enabled": True},
                "text_to_speech": {"enabled": True, "voice": "alloy"},
            },
            {
                "name": "Claude with a voice",
                "api_keys": [VOICE_KEY],
                "model": model,
                "speech_to_text": {
                    "enabled": True,
                    "base_url": upstream.base_url,
                    "api_key": "sk-speech",
                    "model": "fake-whisper",
                },
            },
            {
                "name": "Claude unreachable",
                "api_keys": [DOWN_KEY],
                "model": {**model, "base_url": f"http://127.0.0.1:{free_port()}"},
            },
        ]
    }


@dataclass
class ClaudeServer:
    base_url: str
    fake: FakeAnthropic
    upstream: FakeUpstream

    def client(self, key: str = CLAUDE_KEY) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url + "/v1", headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def streamed(self) -> list[Record]:
        """The chat calls (titles are made by non-streaming calls)."""
        return [r for r in self.fake.requests if r.body.get("stream")]


@pytest.fixture(scope="module")
def anthropic_server() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic().start()
    yield server
    server.stop()


@pytest.fixture
async def claude(
    database_url: str, tmp_path: Path, anthropic_server: FakeAnthropic, upstream: FakeUpstream
) -> AsyncIterator[ClaudeServer]:
    anthropic_server.reset()
    config_path = tmp_path / "apps.yaml"
    config_path.write_text(yaml.safe_dump(anthropic_apps(anthropic_server, upstream)))
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, config=config_path)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on"))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server exited during start-up")
        await asyncio.sleep(0.01)
    yield ClaudeServer(f"http://127.0.0.1:{port}", anthropic_server, upstream)
    server.should_exit = True
    await asyncio.wait_for(task, 30)


def body(query: str = "hi", mode: str = "blocking", **extra: Any) -> dict[str, Any]:
    return {
        "inputs": {},
        "query": query,
        "user": "u1",
        "response_mode": mode,
        "auto_generate_name": False,
        **extra,
    }


async def stream(client: httpx.AsyncClient, payload: dict[str, Any]) -> list[Any]:
    async with client.stream("POST", "/chat-messages", json=payload) as response:
        raw = await response.aread()
    assert response.status_code == 200, raw
    return parse_frames(raw)


async def saved(client: httpx.AsyncClient, conversation_id: str) -> dict[str, Any]:
    history = await client.get("/messages", params={"user": "u1", "conversation_id": conversation_id})
    data: dict[str, Any] = history.json()["data"][-1]
    return data


async def test_blocking_chat_answers_with_claude_and_its_usage(claude: ClaudeServer) -> None:
    async with claude.client() as client:
        response = await client.post("/chat-messages", json=body("What is 2+2?"))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["answer"] == "Hello from the fake Claude."
    usage = answer["metadata"]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (13, 6, 19)
    (sent,) = claude.streamed()
    assert sent.headers["x-api-key"] == "sk-ant-test" and sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.body == {
        "model": "claude-test",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "What is 2+2?"}],
        "system": "You are terse.",
        "temperature": 0.5,
        "stop_sequences": ["END"],
        "stream": True,
    }


async def test_streaming_chat_ends_with_usage_and_keeps_the_history(claude: ClaudeServer) -> None:
    claude.fake.behaviour.chunks = ["Four", "."]
    async with claude.client() as client:
        first = await stream(client, body("What is 2+2?", mode="streaming"))
        assert [f.event for f in first] == ["message", "message", "message_end"]
        assert "".join(f.data["answer"] for f in first[:-1]) == "Four."
        usage = first[-1].data["metadata"]["usage"]
        assert (usage["prompt_tokens"], usage["completion_tokens"]) == (13, 6)
        conversation_id = first[-1].data["conversation_id"]
        await stream(client, body("And 3+3?", mode="streaming", conversation_id=conversation_id))
    assert claude.streamed()[-1].body["messages"] == [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "Four."},
        {"role": "user", "content": "And 3+3?"},
    ]


async def test_the_title_comes_from_a_non_streaming_call(claude: ClaudeServer) -> None:
    claude.fake.behaviour.completion = '{"Language Type": "English", "Your Output": "Arithmetic"}'
    async with claude.client() as client:
        answer = (await client.post("/chat-messages", json=body(auto_generate_name=True))).json()
        for _ in range(100):
            listed = (await client.get("/conversations", params={"user": "u1"})).json()["data"]
            if listed and listed[0]["name"] == "Arithmetic":
                break
            await asyncio.sleep(0.05)
    assert listed[0]["id"] == answer["conversation_id"] and listed[0]["name"] == "Arithmetic"
    (title_call,) = [r for r in claude.fake.requests if not r.body.get("stream")]
    assert title_call.body["messages"][-1]["role"] == "user" and "system" in title_call.body


async def test_an_uploaded_image_reaches_claude_as_a_base64_source(claude: ClaudeServer) -> None:
    async with claude.client() as client:
        uploaded = await client.post(
            "/files/upload", files={"file": ("dot.png", PNG, "image/png")}, data={"user": "u1"}
        )
        assert uploaded.status_code == 201, uploaded.text
        files = [{"type": "image", "transfer_method": "local_file", "upload_file_id": uploaded.json()["id"]}]
        response = await client.post("/chat-messages", json=body("What is this?", files=files))
    assert response.status_code == 200, response.text
    assert claude.streamed()[-1].body["messages"][-1] == {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is this?"},
            {
                "type": "image",
                "source": {
                    "type": "base64",
                    "media_type": "image/png",
                    "data": base64.b64encode(PNG).decode(),
                },
            },
        ],
    }


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (401, "completion_request_error", "Incorrect API key provided"),
        (404, "model_currently_not_support", "[anthropic] Error code: 404 - something went wrong"),
        (429, "completion_request_error", "[anthropic] Rate limit exceeded: something went wrong"),
        (529, "completion_request_error", "[anthropic] Error code: 529 - something went wrong"),
    ],
)
async def test_errors_before_the_first_token_fail_the_turn_and_it_is_saved_as_failed(
    claude: ClaudeServer, status: int, code: str, message: str
) -> None:
    claude.fake.behaviour.status = status
    async with claude.client() as client:
        blocking = await client.post("/chat-messages", json=body())
        assert_error(blocking, 400, code, message)
        frames = await stream(client, body(mode="streaming"))  # a started stream: 200, then the error
        assert [f.event for f in frames] == ["error"]
        assert (frames[0].data["code"], frames[0].data["status"], frames[0].data["message"]) == (
            code,
            400,
            message,
        )
        conversations = (await client.get("/conversations", params={"user": "u1"})).json()["data"]
        assert len(conversations) == 2
        for conversation in conversations:
            failed = await saved(client, conversation["id"])
            assert failed["status"] == "error" and failed["error"] == message


async def test_an_error_event_mid_stream_becomes_an_error_event_and_a_failed_message(
    claude: ClaudeServer,
) -> None:
    claude.fake.behaviour.error_event_after = 2
    async with claude.client() as client:
        frames = await stream(client, body(mode="streaming"))
        error = frames[-1].data
        assert frames[-1].event == "error" and "message_end" not in [f.event for f in frames]
        assert (error["code"], error["status"]) == ("completion_request_error", 400)
        assert error["message"] == "[anthropic] Error code: 529 - Overloaded"
        message = await saved(client, error["conversation_id"])
    assert message["status"] == "error" and message["error"] == error["message"]
    assert message["answer"] == "Hello from"


async def test_long_stream_lines_are_read_whole_up_to_the_cap(claude: ClaudeServer) -> None:
    long_text = "y" * (1024 * 1024)  # past aiohttp's own 512 KiB line limit
    claude.fake.behaviour.chunks = ["Hi ", long_text]
    async with claude.client() as client:
        response = await client.post("/chat-messages", json=body())
        assert response.status_code == 200, response.text[:300]
        assert response.json()["answer"] == "Hi " + long_text
        claude.fake.behaviour.chunks = ["y" * MAX_LINE_BYTES]  # with its framing, over the cap
        too_long = await client.post("/chat-messages", json=body())
        error = assert_error(
            too_long,
            400,
            "completion_request_error",
            "[anthropic] Error: the model's stream sent a line longer than 16 MiB.",
        )
        frames = await stream(client, body(mode="streaming"))
        assert [f.event for f in frames] == ["error"] and frames[0].data["message"] == error["message"]
        claude.fake.behaviour.chunks = ["Hi", "y" * MAX_LINE_BYTES]
        frames = await stream(client, body(mode="streaming"))
        assert [f.event for f in frames] == ["message", "error"]
        assert frames[-1].data["message"] == error["message"]
        message = await saved(client, frames[-1].data["conversation_id"])
    assert message["status"] == "error" and message["answer"] == "Hi"


async def test_an_unreachable_endpoint_fails_the_turn(claude: ClaudeServer) -> None:
    async with claude.client(DOWN_KEY) as client:
        response = await client.post("/chat-messages", json=body())
        frames = await stream(client, body(mode="streaming"))
    error = assert_error(response, 400, "completion_request_error")
    assert error["message"].startswith(
        "[anthropic] Error: Connection error: cannot connect to http://127.0.0.1:"
    )
    assert [f.event for f in frames] == ["error"]
    assert (frames[0].data["code"], frames[0].data["message"]) == (
        "completion_request_error",
        error["message"],
    )


async def test_stop_mid_stream_closes_the_call_to_claude(claude: ClaudeServer) -> None:
    claude.fake.behaviour.gap = 0.3
    claude.fake.behaviour.chunks = ["one", " two", " three", " four", " five", " six"]
    async with claude.client() as client:
        async with client.stream("POST", "/chat-messages", json=body(mode="streaming")) as response:
            chunks = response.aiter_bytes()
            buffer = b""
            while b"\n\n" not in buffer:
                buffer += await anext(chunks)
            head, _, rest = buffer.partition(b"\n\n")
            first = parse_frames(head + b"\n\n")[0].data
            assert first is not None
            stop = await client.post(f"/chat-messages/{first['task_id']}/stop", json={"user": "u1"})
            rest += b"".join([chunk async for chunk in chunks])
        assert stop.json() == {"result": "success"}
        assert parse_frames(rest)[-1].event == "message_end"
        message = await saved(client, first["conversation_id"])
    assert message["status"] == "normal" and "six" not in message["answer"]
    (record,) = claude.streamed()
    for _ in range(40):
        if record.disconnected:
            break
        await asyncio.sleep(0.05)
    assert record.disconnected and not record.finished


async def test_speech_without_an_endpoint_of_its_own_is_a_clear_error(claude: ClaudeServer) -> None:
    async with claude.client() as client:
        heard = await client.post("/audio-to-text", files={"file": ("a.mp3", b"\xff" * 100, "audio/mp3")})
        spoken = await client.post("/text-to-audio", json={"text": "hello", "user": "u1"})
    assert_error(
        heard,
        400,
        "provider_not_support_speech_to_text",
        "Provider anthropic has no speech to text: give speech_to_text its own provider "
        "(openai, openai-compatible) or base_url.",
    )
    assert_error(spoken, 400, "provider_not_initialize")
    assert "give text_to_speech its own provider" in spoken.json()["message"]
    assert claude.upstream.aux_requests == []


async def test_speech_with_its_own_endpoint_uses_that_endpoint_and_key_only(claude: ClaudeServer) -> None:
    async with claude.client(VOICE_KEY) as client:
        heard = await client.post("/audio-to-text", files={"file": ("a.mp3", b"\xff" * 100, "audio/mp3")})
    assert heard.status_code == 200, heard.text
    assert heard.json() == {"text": "Hello from the fake transcriber."}
    (sent,) = claude.upstream.aux("transcriptions")
    assert (sent["model"], sent["authorization"]) == ("fake-whisper", "Bearer sk-speech")
