"""POST /audio-to-text, POST /text-to-audio, and text-to-speech auto-play in streaming chat."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.fakes.upstream import fake_speech
from tests.integration.conftest import SPEAKER_KEY, VOICE_KEY, RunningServer
from tests.integration.helpers import assert_error, random_id
from tests.sse import parse_frames

pytestmark = pytest.mark.anyio

MB = 1024 * 1024


def audio_file(content_type: str = "audio/mp3", size: int = 1000, name: str = "clip.mp3") -> dict[str, Any]:
    return {"file": (name, b"\xff" * size, content_type)}


async def test_transcribes_through_the_upstream(server: RunningServer) -> None:
    async with server.client(VOICE_KEY) as client:
        response = await client.post("/audio-to-text", files=audio_file(), data={"user": "u1"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == {"text": "Hello from the fake transcriber."}
    (sent,) = server.upstream.aux("transcriptions")
    assert sent == {
        "model": "fake-whisper",
        "filename": "clip.mp3",
        "content_type": "audio/mp3",
        "size": 1000,
        "authorization": "Bearer sk-test",
    }


async def test_user_is_optional_and_upper_case_types_pass(server: RunningServer) -> None:
    async with server.client(VOICE_KEY) as client:
        response = await client.post("/audio-to-text", files=audio_file("AUDIO/WAV", name="a.wav"))
    assert response.status_code == 200


async def test_disabled_speech_to_text_is_checked_first(server: RunningServer) -> None:
    async with server.client() as client:
        response = await client.post("/audio-to-text", files=audio_file("video/mp4"))
        no_file = await client.post("/audio-to-text", data={"user": "u1"})
    assert_error(response, 400, "invalid_param", "Speech to text is not enabled")
    assert_error(no_file, 400, "invalid_param", "Speech to text is not enabled")


async def test_a_missing_file_part_is_bad_request_key_error(server: RunningServer) -> None:
    async with server.client(VOICE_KEY) as client:
        form_only = await client.post("/audio-to-text", data={"user": "u1", "file": "not a file"})
        json_body = await client.post("/audio-to-text", json={"file": "x"})
        other_part = await client.post("/audio-to-text", files={"audio": ("a.mp3", b"x", "audio/mp3")})
    for response in (form_only, json_body, other_part):
        assert_error(response, 400, "bad_request_key_error")
    assert server.upstream.aux("transcriptions") == []


@pytest.mark.parametrize(
    "content_type", ["audio/mpeg", "audio/webm", "audio/mp4", "text/plain", "audio/mp3x"]
)
async def test_only_exact_audio_types_are_accepted(server: RunningServer, content_type: str) -> None:
    async with server.client(VOICE_KEY) as client:
        response = await client.post("/audio-to-text", files=audio_file(content_type))
    assert_error(response, 415, "unsupported_audio_type")


async def test_the_size_limit_is_30_mb(server: RunningServer) -> None:
    async with server.client(VOICE_KEY) as client:
        at_limit = await client.post("/audio-to-text", files=audio_file(size=30 * MB))
        over = await client.post("/audio-to-text", files=audio_file(size=30 * MB + 1))
        over_and_wrong_type = await client.post("/audio-to-text", files=audio_file("audio/ogg", size=31 * MB))
    assert at_limit.status_code == 200, at_limit.text
    assert server.upstream.aux("transcriptions")[0]["size"] == 30 * MB
    assert_error(over, 413, "audio_too_large", "Audio size larger than 30 mb")
    assert_error(over_and_wrong_type, 415, "unsupported_audio_type")
    assert len(server.upstream.aux("transcriptions")) == 1


async def test_transcription_failure_is_a_provider_error(server: RunningServer) -> None:
    server.upstream.behaviour.aux_status = 500
    async with server.client(VOICE_KEY) as client:
        response = await client.post("/audio-to-text", files=audio_file())
    assert_error(response, 400, "completion_request_error")


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        # The same table as chat: an unknown model is model_currently_not_support, and a
        # provider's rate limit is a completion_request_error (400), as the contract says.
        (404, "model_currently_not_support", "[openai] Error code: 404 - upstream exploded"),
        (429, "completion_request_error", "[openai] Rate limit exceeded: upstream exploded"),
        (401, "completion_request_error", "Incorrect API key provided"),
    ],
)
async def test_speech_provider_errors_map_like_chat_errors(
    server: RunningServer, status: int, code: str, message: str
) -> None:
    server.upstream.behaviour.aux_status = status
    async with server.client(VOICE_KEY) as client:
        transcribed = await client.post("/audio-to-text", files=audio_file())
        spoken = await speak(client, text="Hi")
    assert_error(transcribed, 400, code, message)
    assert_error(spoken, 400, code, message)


async def speak(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    async with client.stream("POST", "/text-to-audio", json=body) as response:
        await response.aread()
    return response


async def test_text_to_audio_streams_mpeg_with_the_configured_voice(server: RunningServer) -> None:
    async with server.client(VOICE_KEY) as client:
        response = await speak(client, text="Good morning", user="u1", streaming=True)
        chosen = await speak(client, text="Hi", voice="onyx")
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/mpeg"
    assert response.content == fake_speech("Good morning", "nova")
    assert chosen.content == fake_speech("Hi", "onyx")
    first = server.upstream.aux("speech")[0]
    assert (first["model"], first["input"], first["voice"]) == ("fake-tts", "Good morning", "nova")


async def test_text_to_audio_reads_the_callers_message(server: RunningServer) -> None:
    async with server.client(VOICE_KEY) as client:
        message = (
            await client.post(
                "/chat-messages",
                json={"inputs": {}, "query": "hi", "user": "u1", "response_mode": "blocking"},
            )
        ).json()
        mine = await speak(client, message_id=message["id"], user="u1", text="ignored")
        theirs = await speak(client, message_id=message["id"], user="someone-else")
        unknown = await speak(client, message_id=random_id(), user="u1")
        malformed = await speak(client, message_id="nope", user="u1")
    assert mine.content == fake_speech("Hello from the fake model.", "nova")
    for response in (theirs, unknown, malformed):
        assert_error(response, 404, "not_found", "Message Not Exists.")


async def test_text_to_audio_errors(server: RunningServer) -> None:
    async with server.client(VOICE_KEY) as voice, server.client() as plain:
        no_text = await voice.post("/text-to-audio", json={"user": "u1"})
        empty = await voice.post("/text-to-audio", json={"text": "", "message_id": ""})
        disabled = await plain.post("/text-to-audio", json={"text": "hello"})
        not_json = await voice.post("/text-to-audio", content=b"text=hi")
        bad_type = await voice.post("/text-to-audio", json={"text": 5})
    assert_error(no_text, 400, "invalid_param", "Text is required")
    assert_error(empty, 400, "invalid_param", "Text is required")
    assert_error(disabled, 400, "invalid_param", "TTS is not enabled")
    assert_error(not_json, 415, "unsupported_media_type")
    assert_error(bad_type, 400, "invalid_param")


async def test_text_to_audio_upstream_failure_is_a_json_error(server: RunningServer) -> None:
    server.upstream.behaviour.aux_status = 500
    async with server.client(VOICE_KEY) as client:
        response = await client.post("/text-to-audio", json={"text": "hello"})
    assert_error(response, 400, "completion_request_error")


async def chat_stream(client: httpx.AsyncClient, mode: str = "streaming") -> httpx.Response:
    body = {"inputs": {}, "query": "hi", "user": "u1", "response_mode": mode}
    async with client.stream("POST", "/chat-messages", json=body) as response:
        await response.aread()
    return response


async def test_auto_play_interleaves_audio_and_ends_with_tts_message_end(server: RunningServer) -> None:
    server.upstream.behaviour.chunks = ["First sentence. ", "Second", " one! ", "And the tail"]
    async with server.client(SPEAKER_KEY) as client:
        response = await chat_stream(client)
    frames = parse_frames(response.content)
    events = [f.event for f in frames]
    assert events[-1] == "tts_message_end"
    assert events.count("tts_message_end") == 1 and events.count("message_end") == 1
    end_at = events.index("message_end")
    assert events[:end_at].count("message") == 4
    text_events = [i for i, e in enumerate(events) if e == "message"]
    tts = [f for f in frames if f.event == "tts_message"]
    assert all(
        list(f.data) == ["event", "conversation_id", "message_id", "created_at", "task_id", "audio"]
        for f in tts
        if f.data
    )
    audio = b"".join(base64.b64decode(f.data["audio"]) for f in tts if f.data)
    assert audio == b"".join(
        fake_speech(s, "echo") for s in ["First sentence.", "Second one!", "And the tail"]
    )
    # The tail is read after the answer ended.
    assert any(e == "tts_message" for e in events[end_at:])
    assert max(text_events) < end_at
    last = frames[-1].data
    assert last is not None and last["audio"] == "" and last["task_id"] == frames[0].data["task_id"]  # type: ignore[index]


async def test_no_audio_without_auto_play_or_in_blocking_mode(server: RunningServer) -> None:
    async with server.client(VOICE_KEY) as voice, server.client(SPEAKER_KEY) as speaker:
        streamed = await chat_stream(voice)
        blocking = await speaker.post(
            "/chat-messages", json={"inputs": {}, "query": "hi", "user": "u1", "response_mode": "blocking"}
        )
    assert [f.event for f in parse_frames(streamed.content)][-1] == "message_end"
    assert "tts" not in streamed.text
    assert blocking.status_code == 200 and blocking.json()["answer"] == "Hello from the fake model."
    assert server.upstream.aux("speech") == []


async def test_auto_play_survives_a_failing_speech_upstream(server: RunningServer) -> None:
    server.upstream.behaviour.aux_status = 500
    async with server.client(SPEAKER_KEY) as client:
        response = await chat_stream(client)
    events = [f.event for f in parse_frames(response.content)]
    assert events[-2:] == ["message_end", "tts_message_end"] and "tts_message" not in events
