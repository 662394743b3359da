"""The webscraper against pages served on loopback: readable text, errors, redirects, size and time caps.

The fake site's address is allow-listed in the tool context, as an operator would allow-list an
internal host; everything else stays refused, and no test contacts a non-loopback address.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from aiohttp import web

from difychat.server.net import AllowList, GuardedClient
from difychat.server.tools.base import TextOutput, ToolContext, ToolError
from difychat.server.tools.builtin import definition
from difychat.server.tools.builtin.webscraper import SUMMARY_UNAVAILABLE
from difychat.server.tools.parameters import arguments, form_values
from tests.fakes.web import FakeSite, page, redirect
from tests.integration.test_chat_files import minimal_docx, minimal_pdf

pytestmark = pytest.mark.anyio

ARTICLE = """<!doctype html>
<html><head>
<title>Site name | Fallback title</title>
<meta property="og:title" content="How tides work">
<meta name="author" content="Ada Marine">
<script>var tracking = "do not read me";</script>
<style>body { color: red }</style>
</head><body>
<header><nav><a href="/">Home</a> <a href="/about">About us</a></nav></header>
<div class="cookie-banner">We use cookies. Accept?</div>
<div id="content">
  <article>
    <h1>How tides work</h1>
    <p>Tides are the rise and fall of sea levels caused by the combined effects of the gravitational
    forces exerted by the Moon and the Sun, and the rotation of the Earth.</p>
    <p>Most places see two high tides and two low tides every lunar day, a little over 24 hours.</p>
    <ul><li>Spring tides</li><li>Neap tides</li></ul>
    <div class="share-buttons">Share on every network</div>
  </article>
</div>
<aside>Related: ten facts about boats</aside>
<footer>Copyright the ocean</footer>
</body></html>"""


@pytest.fixture
async def site() -> AsyncIterator[FakeSite]:
    async with FakeSite() as running:
        yield running


def tool_context(allow: AllowList | None = None, **limits: Any) -> ToolContext:
    allowed = AllowList.parse(["127.0.0.1"]) if allow is None else allow
    return ToolContext(http=GuardedClient(allowed), **{"timeout": 5.0, **limits})


async def scrape(
    url: str,
    context: ToolContext | None = None,
    tool_parameters: Mapping[str, Any] | None = None,
) -> str:
    provider = definition("webscraper")
    assert provider is not None
    tool = provider.build().tool("webscraper")
    assert tool is not None
    ctx = context or tool_context()
    try:
        outputs = await tool.invoke(
            arguments(tool.spec, form_values(tool.spec, tool_parameters or {}), {"url": url}), ctx
        )
    finally:
        await ctx.http.close()
    assert len(outputs) == 1 and isinstance(outputs[0], TextOutput)
    return outputs[0].text


async def test_a_page_becomes_title_author_and_its_readable_text(site: FakeSite) -> None:
    site.route("GET", "/tides", page(ARTICLE))
    text = await scrape(site.url("/tides"))
    head, _, body = text.partition("\nTEXT:\n\n")
    assert head == "TITLE: How tides work\nAUTHOR: Ada Marine"
    assert body.startswith(
        "# How tides work\n\nTides are the rise and fall of sea levels caused by the combined"
    )
    assert "- Spring tides\n- Neap tides" in body
    for chrome in ("tracking", "color: red", "Home", "cookies", "Share on", "boats", "Copyright"):
        assert chrome not in body
    # The default user agent is a browser's; the request went to the allow-listed fake only.
    [request] = site.seen
    assert request.headers["User-Agent"].startswith("Mozilla/5.0")


async def test_the_app_sets_the_user_agent_and_a_summary_is_not_generated(site: FakeSite) -> None:
    site.route("GET", "/tides", page(ARTICLE))
    text = await scrape(
        site.url("/tides"), tool_parameters={"user_agent": "difychat-test/1.0", "generate_summary": True}
    )
    assert text.startswith(SUMMARY_UNAVAILABLE + "\n\nTITLE: How tides work")
    assert site.seen[0].headers["User-Agent"] == "difychat-test/1.0"


async def test_a_page_without_article_markup_keeps_its_largest_text_block(site: FakeSite) -> None:
    paragraphs = "".join(
        f"<p>Paragraph {i} of the story, long enough to count as content.</p>" for i in range(6)
    )
    html = (
        "<html><head><title>Plain</title></head><body>"
        '<div class="menu"><p>Menu entry that is long enough to look like a paragraph here.</p></div>'
        f"<div>{paragraphs}</div><div><p>Short.</p></div></body></html>"
    )
    site.route("GET", "/plain", page(html))
    text = await scrape(site.url("/plain"))
    assert text.startswith("TITLE: Plain\nAUTHOR: \nTEXT:\n\nParagraph 0 of the story")
    assert "Menu entry" not in text


async def test_the_contracts_texts_for_empty_urls_errors_and_unsupported_types(site: FakeSite) -> None:
    site.route("GET", "/missing", page("gone", status=404))
    site.route("GET", "/image", page(b"\x89PNG....", content_type="image/png"))
    site.route("GET", "/notes.txt", page("plain notes", content_type="text/plain"))
    assert await scrape("") == "Please input url"
    assert await scrape(site.url("/missing")) == "URL returned status code 404."
    assert await scrape(site.url("/image")) == "Unsupported content-type [image/png] of URL."
    assert await scrape(site.url("/notes.txt")) == "plain notes"


async def test_documents_are_text_extracted(site: FakeSite) -> None:
    site.route("GET", "/report.pdf", page(minimal_pdf("Quarterly tide report"), "application/pdf"))
    docx_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    site.route("GET", "/memo", page(minimal_docx("Memo about the harbour"), docx_type))
    site.route("GET", "/broken.pdf", page(b"%PDF-1.4 this is not a PDF", "application/pdf"))
    assert "Quarterly tide report" in await scrape(site.url("/report.pdf"))
    assert await scrape(site.url("/memo")) == "Memo about the harbour"
    with pytest.raises(ToolError) as broken:
        await scrape(site.url("/broken.pdf"))
    assert broken.value.observation() == "tool invoke error: cannot read the pdf document"


async def test_redirects_are_followed_to_allowed_hosts_and_refused_elsewhere(site: FakeSite) -> None:
    # A second server on another loopback address, which the allow-list does not name: a tripwire.
    async with FakeSite(host="127.0.0.2") as forbidden:
        forbidden.route("GET", "/secret", page("internal secret"))
        site.route("GET", "/tides", page(ARTICLE))
        site.route("GET", "/moved", redirect("/tides", 301))
        site.route("GET", "/to-other-loopback", redirect(forbidden.url("/secret")))
        site.route("GET", "/to-mapped", redirect(f"http://[::ffff:127.0.0.2]:{forbidden.port}/secret"))
        site.route("GET", "/to-metadata", redirect("http://169.254.169.254/latest/meta-data/"))
        site.route("GET", "/to-decimal", redirect(f"http://2130706434:{forbidden.port}/secret"))
        assert (await scrape(site.url("/moved"))).startswith("TITLE: How tides work")
        for path, why in [
            ("/to-other-loopback", "127.0.0.2 is not allowed (loopback)"),
            ("/to-mapped", "is not allowed (loopback"),
            ("/to-metadata", "169.254.169.254 is not allowed (cloud metadata service)"),
            ("/to-decimal", "cannot be fetched"),
        ]:
            with pytest.raises(ToolError) as refused:
                await scrape(site.url(path))
            assert refused.value.observation().startswith("tool invoke error: the URL is not allowed: "), path
            assert why in str(refused.value), (path, str(refused.value))
        assert forbidden.seen == []


async def test_loopback_is_refused_unless_allow_listed(site: FakeSite) -> None:
    site.route("GET", "/tides", page(ARTICLE))
    with pytest.raises(ToolError, match="127.0.0.1 is not allowed"):
        await scrape(site.url("/tides"), tool_context(AllowList()))
    with pytest.raises(ToolError, match="the URL is not allowed"):
        await scrape("file:///etc/passwd")
    assert site.seen == []


async def test_megabytes_are_read_up_to_the_cap_and_the_answer_is_clipped(site: FakeSite) -> None:
    sent = 0

    async def huge(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        await response.write(b"<html><body><article>")
        chunk = b"<p>" + b"word " * 2000 + b"</p>"
        try:
            for _ in range(1000):  # about 10 MB
                await response.write(chunk)
                sent += len(chunk)
        except (ConnectionResetError, RuntimeError):
            pass  # the reader stopped: that is the point
        return response

    site.route("GET", "/huge", huge)
    site.route("GET", "/huge.pdf", page(b"%PDF-1.4" + b"0" * 300_000, "application/pdf"))
    context = tool_context(max_fetch_bytes=256 * 1024, max_output_bytes=16 * 1024)
    text = await scrape(site.url("/huge"), context)
    assert len(text.encode()) <= 16 * 1024
    assert text.startswith("TITLE: \nAUTHOR: \nTEXT:\n\nword word") and text.endswith("\n[truncated]")
    assert sent < 5_000_000  # the download stopped near the cap, not at the end of the page
    with pytest.raises(ToolError, match="the document is larger than 262144 bytes"):
        await scrape(site.url("/huge.pdf"), tool_context(max_fetch_bytes=256 * 1024))


async def test_a_slow_page_is_given_up_after_the_timeout(site: FakeSite) -> None:
    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        for _ in range(100):
            await response.write(b"<p>slow</p>")
            await asyncio.sleep(0.1)
        return response

    site.route("GET", "/slow", trickle)
    with pytest.raises(ToolError) as slow:
        await scrape(site.url("/slow"), tool_context(timeout=0.5))
    assert slow.value.observation() == "tool invoke error: the request timed out after 0.5 seconds"
