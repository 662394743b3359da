"""POST /files/upload, GET /files/{id}/preview and signed file URLs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.integration.conftest import PLAIN_KEY, RunningServer, ServerFactory

pytestmark = pytest.mark.anyio

UPLOAD_KEYS = [
    "id",
    "name",
    "size",
    "extension",
    "mime_type",
    "created_by",
    "created_at",
    "preview_url",
    "source_url",
    "original_url",
    "user_id",
    "tenant_id",
    "conversation_id",
    "file_key",
]
BOUNDARY = "difychat-test-boundary"


def multipart(*parts: tuple[str, str | None, str | None, bytes]) -> bytes:
    """A multipart body from (field name, filename or None, content type or None, data) parts."""
    out = b""
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if content_type is not None:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


async def post_multipart(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    return await client.post("/files/upload", content=body, headers=headers)


async def upload(
    server: RunningServer,
    name: str = "report.txt",
    data: bytes = b"hello file",
    mime: str = "text/plain",
    user: str = "u1",
    key: str = PLAIN_KEY,
) -> httpx.Response:
    async with server.client(key) as client:
        return await client.post("/files/upload", files={"file": (name, data, mime)}, data={"user": user})


async def test_upload_answers_201_with_the_contract_keys(server: RunningServer) -> None:
    response = await upload(server, "report.pdf", b"%PDF-1.4 fake", "application/pdf")
    assert response.status_code == 201, response.text
    body = response.json()
    assert list(body) == UPLOAD_KEYS
    uuid.UUID(body["id"])
    uuid.UUID(body["created_by"])
    assert body["name"] == "report.pdf" and body["extension"] == "pdf"
    assert body["size"] == len(b"%PDF-1.4 fake") and body["mime_type"] == "application/pdf"
    assert abs(body["created_at"] - time.time()) < 60
    assert body["preview_url"] is None and body["file_key"] is None and body["conversation_id"] is None
    assert body["source_url"].startswith(f"/files/{body['id']}/file-preview?")
    # the same user uploads as the same end user
    again = (await upload(server, "b.txt", user="u1")).json()
    other = (await upload(server, "b.txt", user="u2")).json()
    assert again["created_by"] == body["created_by"] != other["created_by"]


async def test_upload_without_user_uses_the_default_user(server: RunningServer) -> None:
    async with server.client() as client:
        response = await client.post("/files/upload", files={"file": ("a.txt", b"x", "text/plain")})
    assert response.status_code == 201
    uuid.UUID(response.json()["created_by"])


async def test_extension_is_lower_cased_and_the_mimetype_is_the_clients(server: RunningServer) -> None:
    body = (await upload(server, "Photo.PNG", b"not really a png", "application/x-custom")).json()
    assert body["extension"] == "png" and body["mime_type"] == "application/x-custom"
    assert body["name"] == "Photo.PNG"


async def test_signed_url_serves_the_bytes_and_rejects_tampering(server: RunningServer) -> None:
    data = b"line one\nline two\n"
    body = (await upload(server, "notes.txt", data)).json()
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        ok = await client.get(body["source_url"])
        assert ok.status_code == 200
        assert ok.content == data
        assert ok.headers["content-type"] == "text/plain"
        assert ok.headers["content-length"] == str(len(data))
        parts = urlsplit(body["source_url"])
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert len(query["nonce"]) == 32
        bad_sign = {**query, "sign": base64.urlsafe_b64encode(b"x" * 32).decode()}
        refused = await client.get(parts.path, params=bad_sign)
        assert refused.status_code == 404 and refused.json()["code"] == "not_found"
        other_id = await client.get(parts.path.replace(body["id"], str(uuid.uuid4())), params=query)
        assert other_id.status_code == 404
        missing = await client.get(parts.path, params={"timestamp": query["timestamp"]})
        assert missing.status_code == 404


async def test_signed_url_expires_after_300_seconds(server: RunningServer) -> None:
    body = (await upload(server, "notes.txt", b"abc")).json()
    key = server.settings.resolved_secret_key().encode()

    def signed(timestamp: int) -> dict[str, str]:
        nonce = "0" * 32
        message = f"file-preview|{body['id']}|{timestamp}|{nonce}".encode()
        sign = base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
        return {"timestamp": str(timestamp), "nonce": nonce, "sign": sign}

    path = f"/files/{body['id']}/file-preview"
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        fresh = await client.get(path, params=signed(int(time.time()) - 280))
        assert fresh.status_code == 200 and fresh.content == b"abc"
        stale = await client.get(path, params=signed(int(time.time()) - 320))
        assert stale.status_code == 404


async def test_files_url_setting_prefixes_signed_urls(make_server: ServerFactory) -> None:
    server = await make_server(files_url="https://files.example.com/")
    body = (await upload(server)).json()
    assert body["source_url"].startswith(
        f"https://files.example.com/files/{body['id']}/file-preview?timestamp="
    )


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (multipart(("user", None, None, b"u1")), 400, "no_file_uploaded"),
        (multipart(("document", "a.txt", "text/plain", b"x")), 400, "no_file_uploaded"),
        (multipart(("file", None, None, b"not a file part")), 400, "no_file_uploaded"),
        (
            multipart(("file", "a.txt", "text/plain", b"x"), ("extra", "b.txt", "text/plain", b"y")),
            400,
            "too_many_files",
        ),
        (
            multipart(("extra", "b.txt", "text/plain", b"y"), ("file", "a.txt", "text/plain", b"x")),
            400,
            "too_many_files",
        ),
        (multipart(("file", "a.txt", None, b"x")), 415, "unsupported_file_type"),
        (multipart(("file", "", "text/plain", b"x")), 400, "filename_not_exists_error"),
    ],
    ids=[
        "no-file",
        "other-field-only",
        "file-as-plain-field",
        "two-fields",
        "two-fields-file-last",
        "no-mimetype",
        "empty-filename",
    ],
)
async def test_upload_refusals(server: RunningServer, body: bytes, status: int, code: str) -> None:
    async with server.client() as client:
        response = await post_multipart(client, body)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


async def test_upload_refusal_messages(server: RunningServer) -> None:
    async with server.client() as client:
        none = await post_multipart(client, multipart(("user", None, None, b"u1")))
        assert none.json() == {
            "code": "no_file_uploaded",
            "message": "Please upload your file.",
            "status": 400,
        }
        not_multipart = await client.post("/files/upload", json={"user": "u1"})
        assert not_multipart.status_code == 400 and not_multipart.json()["code"] == "no_file_uploaded"
        two = await post_multipart(
            client, multipart(("file", "a.txt", "text/plain", b"x"), ("more", "b.txt", "text/plain", b"y"))
        )
        assert two.json()["message"] == "Only one file is allowed."
        mime = await post_multipart(client, multipart(("file", "a.txt", None, b"x")))
        assert mime.json()["message"] == "File type not allowed."
        empty = await post_multipart(client, multipart(("file", "", "text/plain", b"x")))
        assert empty.json()["message"] == "The specified filename does not exist."


async def test_two_parts_named_file_count_as_one_and_the_first_is_used(server: RunningServer) -> None:
    async with server.client() as client:
        response = await post_multipart(
            client,
            multipart(
                ("file", "first.txt", "text/plain", b"one"), ("file", "second.txt", "text/plain", b"two!")
            ),
        )
    assert response.status_code == 201
    assert response.json()["name"] == "first.txt" and response.json()["size"] == 3


@pytest.mark.parametrize("char", list('/\\:*?"<>|'))
async def test_filename_with_invalid_characters_is_refused(server: RunningServer, char: str) -> None:
    name = f"bad{char}name.txt".replace('"', '\\"')
    async with server.client() as client:
        response = await post_multipart(client, multipart(("file", name, "text/plain", b"x")))
    assert response.status_code == 400
    assert response.json() == {
        "code": "invalid_param",
        "message": "Filename contains invalid characters",
        "status": 400,
    }


async def test_long_names_are_cut_to_200_characters_plus_extension(server: RunningServer) -> None:
    body = (await upload(server, "n" * 250 + ".md", b"# title")).json()
    assert body["name"] == "n" * 200 + ".md" and body["extension"] == "md"
    exact = (await upload(server, "m" * 197 + ".md", b"# title")).json()
    assert exact["name"] == "m" * 197 + ".md"


async def test_blacklisted_extensions_are_refused(make_server: ServerFactory) -> None:
    server = await make_server(upload_file_extension_blacklist="exe, .BAT")
    refused = await upload(server, "setup.EXE", b"MZ", "application/octet-stream")
    assert refused.status_code == 400
    assert refused.json()["message"] == "File extension '.exe' is not allowed for security reasons"
    assert (await upload(server, "run.bat", b"echo", "text/plain")).status_code == 400
    assert (await upload(server, "fine.txt", b"ok")).status_code == 201


@pytest.mark.parametrize(
    ("name", "limit_setting"),
    [
        ("pic.jpg", "upload_image_file_size_limit"),
        ("clip.mp4", "upload_video_file_size_limit"),
        ("song.mp3", "upload_audio_file_size_limit"),
        ("doc.pdf", "upload_file_size_limit"),
        ("thing.custom", "upload_file_size_limit"),
    ],
)
async def test_size_limit_per_extension_class(
    make_server: ServerFactory, name: str, limit_setting: str
) -> None:
    limits = {
        "upload_image_file_size_limit": 1000,
        "upload_video_file_size_limit": 3000,
        "upload_audio_file_size_limit": 2000,
        "upload_file_size_limit": 1500,
    }
    server = await make_server(**limits)
    limit = limits[limit_setting]
    at_limit = await upload(server, name, b"a" * limit, "application/octet-stream")
    assert at_limit.status_code == 201 and at_limit.json()["size"] == limit
    over = await upload(server, name, b"a" * (limit + 1), "application/octet-stream")
    assert over.status_code == 413
    error = over.json()
    assert error["code"] == "file_too_large" and error["status"] == 413
    assert error["message"].startswith("File size exceeded.") and "{message}" not in error["message"]
    assert f"{limit / (1024 * 1024):.2f}" in error["message"]


async def test_default_limit_message_names_megabytes(server: RunningServer) -> None:
    over = await upload(server, "big.png", b"\0" * (10 * 1024 * 1024 + 1), "image/png")
    assert over.status_code == 413
    assert over.json()["message"] == "File size exceeded. Image files must be at most 10 MB."
    ok = await upload(server, "big.png", b"\0" * (10 * 1024 * 1024), "image/png")
    assert ok.status_code == 201


async def test_a_refused_upload_leaves_no_stored_file(make_server: ServerFactory) -> None:
    server = await make_server(upload_file_size_limit=100)
    assert (await upload(server, "a.txt", b"x" * 101)).status_code == 413
    stored = [p for p in (server.settings.data_dir / "files").rglob("*") if p.is_file()]
    assert stored == []
    assert (await upload(server, "a.txt", b"x" * 100)).status_code == 201
    stored = [p for p in (server.settings.data_dir / "files").rglob("*") if p.is_file()]
    assert len(stored) == 1 and stored[0].read_bytes() == b"x" * 100


async def test_a_2_gb_upload_is_refused_while_it_streams(server: RunningServer) -> None:
    """The server answers 413 once the 15 MB document limit is passed, without reading the rest."""
    port = int(server.base_url.rsplit(":", 1)[1])
    head = multipart(("user", None, None, b"u1")).rsplit(f"--{BOUNDARY}--".encode(), 1)[0]
    head += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="huge.bin"\r\n'.encode()
    head += b"Content-Type: application/octet-stream\r\n\r\n"
    total = 2 * 1024**3
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            "POST /v1/files/upload HTTP/1.1\r\nHost: test\r\n"
            f"Authorization: Bearer {PLAIN_KEY}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(head) + total}\r\n\r\n"
        ).encode()
        + head
    )
    sent = 0
    started = time.monotonic()
    chunk = b"\0" * (1024 * 1024)

    async def send() -> None:
        nonlocal sent
        try:
            while sent < total:
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
        except (ConnectionError, OSError):
            pass

    sender = asyncio.create_task(send())
    try:
        status_line = await asyncio.wait_for(reader.readline(), 30)
        headers = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = int(
            next(
                line.split(b":", 1)[1]
                for line in headers.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        payload = await asyncio.wait_for(reader.readexactly(length), 10)
    finally:
        sender.cancel()
        writer.close()
    elapsed = time.monotonic() - started
    assert status_line.startswith(b"HTTP/1.1 413"), status_line
    assert b'"code":"file_too_large"' in payload
    assert sent < 200 * 1024 * 1024, f"sent {sent} bytes before the answer"
    assert elapsed < 20
