"""Files attached to chat messages.

Validation, what the model sees, history, previews, and SSRF-safe fetching.
"""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import docx
import httpx
import pytest
from aiohttp import web

from tests.integration.conftest import (
    FILES_KEY,
    FILES_LOCAL_KEY,
    OTHER_APP_KEY,
    PLAIN_KEY,
    RunningServer,
    ServerFactory,
)

pytestmark = pytest.mark.anyio

MESSAGE_FILE_KEYS = [
    "id",
    "filename",
    "type",
    "url",
    "mime_type",
    "size",
    "transfer_method",
    "belongs_to",
    "upload_file_id",
]
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF that shows ``text`` in Helvetica, with a correct cross-reference table."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def minimal_docx(text: str) -> bytes:
    document = docx.Document()
    document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


async def upload(server: RunningServer, name: str, data: bytes, mime: str, key: str = FILES_KEY) -> str:
    async with server.client(key) as client:
        response = await client.post("/files/upload", files={"file": (name, data, mime)}, data={"user": "u1"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def chat(
    server: RunningServer, files: Any, key: str = FILES_KEY, query: str = "what is in it?"
) -> httpx.Response:
    async with server.client(key) as client:
        return await client.post(
            "/chat-messages", json={"inputs": {}, "query": query, "user": "u1", "files": files}
        )


def local(file_id: str, kind: str | None = "document") -> dict[str, Any]:
    item: dict[str, Any] = {"transfer_method": "local_file", "upload_file_id": file_id}
    if kind is not None:
        item["type"] = kind
    return item


def last_user_content(server: RunningServer) -> Any:
    body = server.upstream.chat_requests(stream=True)[-1].body
    return body["messages"][-1]["content"]


async def history(server: RunningServer, conversation_id: str, key: str = FILES_KEY) -> list[dict[str, Any]]:
    async with server.client(key) as client:
        response = await client.get("/messages", params={"conversation_id": conversation_id, "user": "u1"})
    assert response.status_code == 200
    return list(response.json()["data"])


# -- local files -------------------------------------------------------------------------------------


async def test_image_upload_reaches_the_model_as_an_image_part_and_shows_in_history(
    server: RunningServer,
) -> None:
    file_id = await upload(server, "dot.png", PNG, "image/png")
    response = await chat(server, [local(file_id, "image")])
    assert response.status_code == 200, response.text
    content = last_user_content(server)
    assert content[0] == {"type": "text", "text": "what is in it?"}
    assert content[1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode(), "detail": "low"},
    }
    [message] = await history(server, response.json()["conversation_id"])
    [item] = message["message_files"]
    assert list(item) == MESSAGE_FILE_KEYS
    assert item["filename"] == "dot.png" and item["type"] == "image" and item["mime_type"] == "image/png"
    assert item["size"] == len(PNG) and item["transfer_method"] == "local_file"
    assert item["belongs_to"] == "user" and item["upload_file_id"] == file_id
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        fetched = await client.get(item["url"])
    assert fetched.status_code == 200 and fetched.content == PNG


@pytest.mark.parametrize(
    ("name", "mime", "data", "expected"),
    [
        ("notes.txt", "text/plain", b"plain words here", "plain words here"),
        ("readme.md", "text/markdown", b"# Title\n\nmarkdown body", "markdown body"),
        ("table.csv", "text/csv", b"a,b\n1,2\n", "a,b\n1,2"),
        (
            "page.html",
            "text/html",
            b"<html><script>var x=1;</script><body><p>html text</p></body></html>",
            "html text",
        ),
        ("paper.pdf", "application/pdf", minimal_pdf("Hello from the PDF"), "Hello from the PDF"),
        (
            "letter.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            minimal_docx("Hello from the DOCX"),
            "Hello from the DOCX",
        ),
    ],
    ids=["txt", "md", "csv", "html", "pdf", "docx"],
)
async def test_document_text_goes_into_the_prompt(
    server: RunningServer, name: str, mime: str, data: bytes, expected: str
) -> None:
    file_id = await upload(server, name, data, mime)
    response = await chat(server, [local(file_id)])
    assert response.status_code == 200, response.text
    content = last_user_content(server)
    assert isinstance(content, str)
    assert expected in content and content.endswith("what is in it?")
    assert "var x=1" not in content


async def test_untyped_local_file_is_validated_as_custom(server: RunningServer) -> None:
    dat = await upload(server, "blob.dat", b"\x00\x01", "application/octet-stream")
    assert (await chat(server, [local(dat, None)])).status_code == 200
    txt = await upload(server, "notes.txt", b"x", "text/plain")
    refused = await chat(server, [local(txt, None)])
    assert refused.status_code == 400
    assert refused.json()["message"] == "File validation failed for file: notes.txt"
    custom_bin = await upload(server, "blob.bin", b"x", "application/octet-stream")
    refused = await chat(server, [local(custom_bin, "custom")])
    assert refused.json()["message"] == "File validation failed for file: blob.bin"


async def test_type_and_method_not_allowed(server: RunningServer) -> None:
    song = await upload(server, "song.mp3", b"ID3", "audio/mpeg")
    refused = await chat(server, [local(song, "audio")])
    assert refused.status_code == 400
    assert refused.json() == {
        "code": "invalid_param",
        "message": "File validation failed for file: song.mp3",
        "status": 400,
    }
    remote = {"type": "image", "transfer_method": "remote_url", "url": "https://example.com/cat.png"}
    refused = await chat(server, [remote], key=FILES_LOCAL_KEY)
    assert refused.json()["message"] == "File validation failed for file: cat.png"


async def test_count_limits(server: RunningServer) -> None:
    image = await upload(server, "dot.png", PNG, "image/png")
    doc = await upload(server, "notes.txt", b"x", "text/plain")
    images = await chat(server, [local(image, "image")] * 4)
    assert images.status_code == 400
    assert images.json()["message"] == "Number of image files exceeds the maximum limit 3"
    mixed = await chat(server, [local(image, "image"), local(doc), local(doc), local(doc)])
    assert mixed.json()["message"] == "Number of files exceeds the maximum limit 3"
    one = await upload(server, "n.txt", b"x", "text/plain", key=FILES_LOCAL_KEY)
    two = await chat(server, [local(one), local(one)], key=FILES_LOCAL_KEY)
    assert two.json()["message"] == "Number of files exceeds the maximum limit 1"


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"type": "document", "transfer_method": "local_file"}, "Invalid upload file id"),
        (
            {"type": "document", "transfer_method": "local_file", "upload_file_id": "nope"},
            "Invalid upload file id format",
        ),
        (
            {
                "type": "document",
                "transfer_method": "local_file",
                "upload_file_id": "0b6f3c52-2c59-4b0e-9a55-2d3f5d1c2e11",
            },
            "Invalid upload file",
        ),
        ({"type": "spreadsheet", "transfer_method": "local_file"}, "'spreadsheet' is not a valid FileType"),
        (
            {"type": "image", "transfer_method": "carrier_pigeon"},
            "'carrier_pigeon' is not a valid FileTransferMethod",
        ),
        (
            {"type": "image", "transfer_method": "remote_url", "url": "ftp://example.com/cat.png"},
            "Invalid file url",
        ),
    ],
    ids=["missing-id", "bad-id", "unknown-id", "bad-type", "bad-method", "ftp-url"],
)
async def test_bad_file_items(server: RunningServer, item: dict[str, Any], message: str) -> None:
    response = await chat(server, [item])
    assert response.status_code == 400
    assert response.json() == {"code": "invalid_param", "message": message, "status": 400}


async def test_dropped_items_and_disabled_feature(server: RunningServer) -> None:
    dropped = await chat(server, [{"type": "image"}, {"type": "image", "transfer_method": "remote_url"}])
    assert dropped.status_code == 200
    assert (await history(server, dropped.json()["conversation_id"]))[0]["message_files"] == []
    # The Plain app has no file_upload feature: the whole array is ignored, even bad items.
    ignored = await chat(server, [{"type": "spreadsheet", "transfer_method": "local_file"}], key=PLAIN_KEY)
    assert ignored.status_code == 200
    assert last_user_content(server) == "what is in it?"


async def test_uploads_belong_to_their_app_and_end_user(server: RunningServer) -> None:
    requests_before = len(server.upstream.requests)
    other_app = await upload(server, "notes.txt", b"other app words", "text/plain", key=OTHER_APP_KEY)
    refused = await chat(server, [local(other_app)])
    assert (refused.status_code, refused.json()["message"]) == (400, "Invalid upload file")
    mine = await upload(server, "mine.txt", b"my own words", "text/plain")
    async with server.client(FILES_KEY) as client:
        someone_else = await client.post(
            "/chat-messages",
            json={"inputs": {}, "query": "read it", "user": "u2", "files": [local(mine)]},
        )
    assert (someone_else.status_code, someone_else.json()["message"]) == (400, "Invalid upload file")
    # Nothing of either file reached the model; the owner can attach their own upload.
    assert len(server.upstream.requests) == requests_before
    owned = await chat(server, [local(mine)])
    assert owned.status_code == 200 and "my own words" in last_user_content(server)


# -- preview ---------------------------------------------------------------------------------------


async def test_preview_access_rules_and_headers(server: RunningServer) -> None:
    file_id = await upload(server, "notes.txt", b"preview me", "text/plain")
    async with server.client(FILES_KEY) as client:
        unreferenced = await client.get(f"/files/{file_id}/preview")
        assert unreferenced.status_code == 404
        assert unreferenced.json() == {
            "code": "file_not_found",
            "message": "File not found in message context",
            "status": 404,
        }
        assert (await client.get("/files/not-a-uuid/preview")).json()["code"] == "file_not_found"
    assert (await chat(server, [local(file_id)])).status_code == 200
    async with server.client(FILES_KEY) as client:
        ok = await client.get(f"/files/{file_id}/preview", params={"user": "anyone"})
        assert ok.status_code == 200 and ok.content == b"preview me"
        assert ok.headers["content-type"] == "text/plain"
        assert ok.headers["content-length"] == "10"
        assert ok.headers["cache-control"] == "public, max-age=3600"
        assert "accept-ranges" not in ok.headers and "content-disposition" not in ok.headers
        attached = await client.get(f"/files/{file_id}/preview", params={"as_attachment": "true"})
        assert attached.headers["content-type"] == "application/octet-stream"
        assert attached.headers["content-disposition"] == "attachment; filename*=UTF-8''notes.txt"
        bad_flag = await client.get(f"/files/{file_id}/preview", params={"as_attachment": "maybe"})
        assert bad_flag.status_code == 400
    async with server.client(OTHER_APP_KEY) as client:
        denied = await client.get(f"/files/{file_id}/preview")
    assert denied.status_code == 403
    assert denied.json() == {
        "code": "file_access_denied",
        "message": "File access denied: not owned by requesting app",
        "status": 403,
    }


async def test_html_is_always_an_attachment_and_media_accepts_ranges(make_server: ServerFactory) -> None:
    server = await make_server()
    page = await upload(server, "ré sumé.html", b"<p>x</p>", "text/html", key=FILES_LOCAL_KEY)
    assert (await chat(server, [local(page)], key=FILES_LOCAL_KEY)).status_code == 200
    async with server.client(FILES_LOCAL_KEY) as client:
        html = await client.get(f"/files/{page}/preview")
    assert html.headers["content-type"] == "application/octet-stream"
    assert html.headers["x-content-type-options"] == "nosniff"
    assert html.headers["content-disposition"] == "attachment; filename*=UTF-8''r%C3%A9%20sum%C3%A9.html"
    clip = await upload(server, "clip.mp4", b"\0\0\0\x18ftypmp42", "video/mp4", key=FILES_LOCAL_KEY)
    # a declared type wins over the detected one ("video" is not allowed in this app, "document" is)
    assert (await chat(server, [local(clip, None)], key=FILES_LOCAL_KEY)).status_code == 400
    assert (await chat(server, [local(clip, "document")], key=FILES_LOCAL_KEY)).status_code == 200
    async with server.client(FILES_LOCAL_KEY) as client:
        video = await client.get(f"/files/{clip}/preview")
    assert video.headers["accept-ranges"] == "bytes" and video.headers["content-type"] == "video/mp4"
    assert video.content == b"\0\0\0\x18ftypmp42"


# -- remote files (SSRF) ---------------------------------------------------------------------------
# Every target below is this machine's loopback: even a broken guard could only reach the test's own
# file server, never another host. Other ranges are proven refused by decision, without connecting,
# in tests/unit/server/test_net_guard.py and test_net_policy.py.


@dataclass
class RemoteSite:
    """A file server on 127.0.0.1, a private address the server must refuse unless allow-listed."""

    port: int
    hits: list[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def by_name(self) -> str:
        return f"http://localhost:{self.port}"

    def redirect(self, target: str, via: str | None = None) -> str:
        """A URL on the site that answers 302 with ``target`` as the raw Location header."""
        return f"{via or self.url}/to?{urlencode({'url': target})}"


@pytest.fixture
async def remote_site() -> AsyncIterator[RemoteSite]:
    hits: list[str] = []

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        hits.append(request.path)
        response: web.StreamResponse = await handler(request)
        return response

    async def doc(_: web.Request) -> web.Response:
        return web.Response(body=b"remote document words", content_type="text/plain")

    async def big(_: web.Request) -> web.StreamResponse:
        return web.Response(body=b"z" * 5000, content_type="text/plain")

    async def image(_: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def to(request: web.Request) -> web.Response:
        # Set by hand: web.HTTPFound would normalise the URL before it is sent.
        return web.Response(status=302, headers={"Location": request.query["url"]})

    async def hops(request: web.Request) -> web.Response:
        left = int(request.match_info["left"])
        location = "/doc.txt" if left == 0 else f"/hops/{left - 1}"
        return web.Response(status=302, headers={"Location": location})

    app = web.Application(middlewares=[record])
    app.router.add_get("/doc.txt", doc)
    app.router.add_get("/big.txt", big)
    app.router.add_route("*", "/cat.png", image)
    app.router.add_get("/to", to)
    app.router.add_get("/hops/{left}", hops)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield RemoteSite(port, hits)
    await runner.cleanup()


def remote(url: str, kind: str = "document") -> dict[str, Any]:
    return {"type": kind, "transfer_method": "remote_url", "url": url}


def loopback_spellings(port: int) -> list[str]:
    """127.0.0.1 (and ::1) as the audit wrote them: each one connects to this machine if let through."""
    hosts = [
        "127.0.0.1",
        "localhost",
        "LOCALHOST",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "１２７．０．０．１",
        "127。0。0。1",
        "127｡0｡0｡1",
        "127﹒0﹒0﹒1",
        "①②⑦.⓪.⓪.①",
        "𝟏𝟐𝟕.𝟎.𝟎.𝟏",
        "¹²⁷.⁰.⁰.¹",
        "１２７。⓪．𝟎.1",
        "[::ffff:１２７.０.０.１]",
        "127.0.0.1.",
        "2130706433",
        "0x7f000001",
        "017700000001",
        "0x7f.1",
        "127.1",
        "0177.0.0.01",
        "%31%32%37.0.0.1",
    ]
    return [f"http://{host}:{port}/doc.txt" for host in hosts]


async def test_every_spelling_of_loopback_is_refused_by_default(
    server: RunningServer, remote_site: RemoteSite
) -> None:
    for url in loopback_spellings(remote_site.port):
        response = await chat(server, [remote(url)])
        assert response.status_code == 400, url
        body = response.json()
        assert body["code"] == "invalid_param", url
        assert "not allowed" in body["message"] or body["message"].startswith("Invalid file url: "), body
    assert remote_site.hits == []
    assert server.upstream.chat_requests() == []


async def test_an_allow_listed_host_name_is_fetched_and_every_redirect_hop_is_rechecked(
    make_server: ServerFactory, remote_site: RemoteSite
) -> None:
    server = await make_server(remote_fetch_allow="localhost")
    ok = await chat(server, [remote(f"{remote_site.by_name}/doc.txt")])
    assert ok.status_code == 200, ok.text
    assert "remote document words" in str(last_user_content(server))
    assert remote_site.hits == ["/doc.txt"]
    # the same server by address is not what the operator allowed, however it is spelled
    for url in [u for u in loopback_spellings(remote_site.port) if "localhost" not in u.lower()]:
        remote_site.hits.clear()
        direct = await chat(server, [remote(url)])
        assert direct.status_code == 400, url
        redirected = await chat(server, [remote(remote_site.redirect(url, via=remote_site.by_name))])
        assert redirected.status_code == 400, url
        assert redirected.json()["code"] == "invalid_param"
        assert remote_site.hits == ["/to"], url  # the hop to the forbidden spelling never arrived
    remote_site.hits.clear()
    followed = await chat(
        server, [remote(remote_site.redirect(f"{remote_site.by_name}/doc.txt", via=remote_site.by_name))]
    )
    assert followed.status_code == 200, followed.text
    assert remote_site.hits == ["/to", "/doc.txt"]


async def test_allow_listed_network_works_and_redirects_are_capped(
    make_server: ServerFactory, remote_site: RemoteSite
) -> None:
    server = await make_server(remote_fetch_allow="127.0.0.1/32")
    ok = await chat(server, [remote(f"{remote_site.url}/doc.txt")])
    assert ok.status_code == 200, ok.text
    assert "remote document words" in str(last_user_content(server))
    [message] = await history(server, ok.json()["conversation_id"])
    [item] = message["message_files"]
    assert item["url"] == f"{remote_site.url}/doc.txt" and item["transfer_method"] == "remote_url"
    assert item["upload_file_id"] is None and item["filename"] == "doc.txt" and item["size"] == 21
    # the network entry covers the address in any spelling the HTTP stack reads as it
    assert (
        await chat(server, [remote(f"http://１２７．０．０．１:{remote_site.port}/doc.txt")])
    ).status_code == 200
    # five redirects are followed, a sixth is not
    remote_site.hits.clear()
    five = await chat(server, [remote(f"{remote_site.url}/hops/4")])
    assert five.status_code == 200, five.text
    assert len(remote_site.hits) == 6
    remote_site.hits.clear()
    six = await chat(server, [remote(f"{remote_site.url}/hops/5")])
    assert six.status_code == 400
    assert "more than 5 redirects" in six.json()["message"]
    assert remote_site.hits == ["/hops/5", "/hops/4", "/hops/3", "/hops/2", "/hops/1", "/hops/0"]
    # a redirect's target is checked as it arrives, credentials and scheme included
    for target in (
        f"http://user:pw@127.0.0.1:{remote_site.port}/doc.txt",
        "file:///etc/passwd",
        "http://[::1/",
    ):
        remote_site.hits.clear()
        refused = await chat(server, [remote(remote_site.redirect(target))])
        assert refused.status_code == 400, target
        assert "redirect pointed to a URL that cannot be fetched" in refused.json()["message"]
        assert remote_site.hits == ["/to"]


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1/x.txt",
        "http://[zz::1]/x.txt",
        "http://[::1]x/x.txt",
        "http://h:99999/x.txt",
        "http://h:abc/x.txt",
        "http://h:0/x.txt",
        "http:///x.txt",
        "http://",
        "http://user@localhost/x.txt",
        "http://example.com@127.0.0.1/x.txt",
        "httpx://127.0.0.1/doc.txt",
        "http://exa mple.com/x.txt",
        "http://ex\ufe6bample.com/x.txt",
        "http://1.2.3.4:80:80/x.txt",
    ],
)
async def test_malformed_remote_urls_are_invalid_params_not_server_errors(
    server: RunningServer, url: str
) -> None:
    response = await chat(server, [remote(url)])
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "invalid_param" and body["message"].startswith("Invalid file url: "), body


async def test_oversize_remote_files_are_refused(make_server: ServerFactory, remote_site: RemoteSite) -> None:
    server = await make_server(remote_fetch_allow="127.0.0.1", remote_fetch_max_bytes=1000)
    big = await chat(server, [remote(f"{remote_site.url}/big.txt")])
    assert big.status_code == 400
    assert "larger than" in big.json()["message"]


async def test_remote_image_goes_to_the_model_as_its_url(
    make_server: ServerFactory, remote_site: RemoteSite
) -> None:
    server = await make_server(remote_fetch_allow="127.0.0.1")
    response = await chat(server, [remote(f"{remote_site.url}/cat.png", "image")])
    assert response.status_code == 200, response.text
    content = last_user_content(server)
    assert content[1] == {
        "type": "image_url",
        "image_url": {"url": f"{remote_site.url}/cat.png", "detail": "low"},
    }
    [message] = await history(server, response.json()["conversation_id"])
    assert message["message_files"][0]["mime_type"] == "image/png"
