"""Multipart uploads, speech-to-text and streamed text-to-speech."""

from __future__ import annotations

import io
import json
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path

import httpx
import pytest

from difychat import APIConnectionError, AsyncDifyChat, DifyChat
from difychat.types import UploadedFile
from tests.unit.client.client_fakes import Chunks, FakeServer

UPLOADED = {
    "id": "u1",
    "name": "notes.txt",
    "size": 5,
    "extension": "txt",
    "mime_type": "text/plain",
    "created_by": "eu1",
    "created_at": 1735689600,
}


def parts(request: httpx.Request) -> dict[str, tuple[str | None, str, bytes]]:
    """The multipart form as {field: (filename, content type, content)}."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + request.headers["content-type"].encode() + b"\r\n\r\n" + request.content
    )
    result: dict[str, tuple[str | None, str, bytes]] = {}
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        result[str(part.get_param("name", header="content-disposition"))] = (
            part.get_filename(),
            part.get_content_type(),
            payload,
        )
    return result


def test_upload_from_a_path_sends_its_name_type_and_the_user(
    client: DifyChat, server: FakeServer, tmp_path: Path
) -> None:
    file = tmp_path / "notes.txt"
    file.write_bytes(b"hello")
    server.add(httpx.Response(201, json=UPLOADED))
    uploaded = client.upload_file(file)
    assert isinstance(uploaded, UploadedFile) and uploaded.id == "u1"
    form = parts(server.last)
    assert form["file"] == ("notes.txt", "text/plain", b"hello")
    assert form["user"][2] == b"alice"
    assert server.last.url.path == "/v1/files/upload"


def test_upload_from_bytes_needs_a_name_for_a_useful_type(client: DifyChat, server: FakeServer) -> None:
    server.add(httpx.Response(201, json=UPLOADED), httpx.Response(201, json=UPLOADED))
    client.upload_file(b"\x89PNG", filename="cat.png", user="bob")
    assert parts(server.last)["file"] == ("cat.png", "image/png", b"\x89PNG")
    assert parts(server.last)["user"][2] == b"bob"
    client.upload_file(b"raw")
    assert parts(server.last)["file"][1] == "application/octet-stream"


def test_upload_from_a_file_object_uses_its_name(
    client: DifyChat, server: FakeServer, tmp_path: Path
) -> None:
    file = tmp_path / "report.pdf"
    file.write_bytes(b"%PDF-1.7")
    server.add(httpx.Response(201, json=UPLOADED))
    with file.open("rb") as handle:
        client.upload_file(handle, mime_type="application/x-custom")
        assert not handle.closed  # the caller's file stays the caller's
    assert parts(server.last)["file"] == ("report.pdf", "application/x-custom", b"%PDF-1.7")


def test_a_file_opened_from_a_path_is_closed_even_on_failure(
    client: DifyChat, server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "a.txt"
    file.write_bytes(b"x")
    opened: list[io.BufferedReader] = []
    original = Path.open

    def spy(self: Path, *args: object, **kwargs: object) -> object:
        handle = original(self, *args, **kwargs)  # type: ignore[call-overload]
        opened.append(handle)
        return handle

    monkeypatch.setattr(Path, "open", spy)
    server.add(httpx.ConnectError("refused"))
    with pytest.raises(APIConnectionError):
        client.upload_file(file)
    assert len(opened) == 1 and opened[0].closed


def test_audio_to_text_sends_the_audio_type_dify_accepts(client: DifyChat, server: FakeServer) -> None:
    # mimetypes would say audio/mpeg, which Dify's speech-to-text rejects with 415.
    server.add(httpx.Response(200, json={"text": "hello world"}))
    text = client.audio_to_text(io.BytesIO(b"ID3..."), filename="question.MP3")
    assert text == "hello world"
    form = parts(server.last)
    assert form["file"] == ("question.MP3", "audio/mp3", b"ID3...")
    assert server.last.url.path == "/v1/audio-to-text"


def test_text_to_audio_stream_yields_chunks_and_closes(client: DifyChat, server: FakeServer) -> None:
    body = Chunks(b"ID3", b"frame1", b"frame2")
    server.add(httpx.Response(200, headers={"content-type": "audio/mpeg"}, stream=body))
    with client.text_to_audio_stream(message_id="m1") as audio:
        assert audio.content_type == "audio/mpeg"
        chunks = list(audio)
    assert b"".join(chunks) == b"ID3frame1frame2"
    assert json.loads(server.last.content) == {"message_id": "m1", "user": "alice"}
    assert body.closed


def test_text_to_audio_stream_closed_when_abandoned(client: DifyChat, server: FakeServer) -> None:
    body = Chunks(b"a", b"b", b"c")
    server.add(httpx.Response(200, headers={"content-type": "audio/mpeg"}, stream=body))
    with client.text_to_audio_stream(text="hi") as audio:
        next(iter(audio))
    assert body.closed


@pytest.mark.anyio
async def test_async_upload_and_audio_stream(async_client: AsyncDifyChat, server: FakeServer) -> None:
    server.add(httpx.Response(201, json=UPLOADED))
    await async_client.upload_file(b"hello", filename="notes.txt")
    assert parts(server.last)["file"] == ("notes.txt", "text/plain", b"hello")

    body = Chunks(b"ID3", b"x")
    server.add(httpx.Response(200, headers={"content-type": "audio/mpeg"}, stream=body))
    async with await async_client.text_to_audio_stream(text="hi") as audio:
        data = await audio.read()
    assert data == b"ID3x"
    assert body.closed


@pytest.mark.anyio
async def test_async_text_to_audio_json_null_is_not_found(
    async_client: AsyncDifyChat, server: FakeServer
) -> None:
    from difychat import NotFoundError

    server.add(httpx.Response(200, content=b"null", headers={"content-type": "application/json"}))
    with pytest.raises(NotFoundError):
        await async_client.text_to_audio_stream(message_id="nope")
