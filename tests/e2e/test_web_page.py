"""The web chat page in a real headless Chromium, against ``difychat serve`` and the fake model: a
conversation streams and can be stopped, a reload keeps it, another browser profile cannot see it,
answers render Markdown without running any markup, and Dify's bubble snippet opens the page.

Chromium is the machine's own (``apt-get install chromium``); without it (or without Playwright)
these tests skip, and fail when services are required (CI).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import yaml

from tests.conftest import missing_service
from tests.e2e.conftest import SERVERS, Database, Launcher, ServerProcess
from tests.e2e.web_browser import (
    CHROMIUM,
    SITE,
    WEB_KEY,
    embedding_site,
    launch,
    web_apps,
)
from tests.fakes.upstream import FakeUpstream, Round

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Dialog, Page

FULL_ANSWER = "Hello from the fake model."
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def web_server(
    tmp_path_factory: pytest.TempPathFactory, upstream_server: FakeUpstream
) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("web-page")
    config = root / "apps.yaml"
    config.write_text(yaml.safe_dump(web_apps(upstream_server), allow_unicode=True), encoding="utf-8")
    launcher = Launcher(root, upstream_server, [])
    try:
        yield launcher.new(Database("sqlite", None), config=config)
    finally:
        launcher.stop_all()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_service("Playwright is not installed: pip install -e '.[test]'")
    if not os.access(CHROMIUM, os.X_OK):
        missing_service(f"Chromium is not at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as playwright:
        found = launch(playwright)
        yield found
        found.close()


@pytest.fixture(autouse=True)
def _show_server_output(request: pytest.FixtureRequest, web_server: ServerProcess) -> None:
    request.node.stash.setdefault(SERVERS, []).append(web_server)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile: its own cookies and storage."""
    found = browser.new_context(viewport={"width": 1280, "height": 800})
    found.set_default_timeout(WAIT_MS)
    yield found
    found.close()


def open_chat(context: BrowserContext, server: ServerProcess, code: str = SITE) -> Page:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.base_url}/chat/{code}")
    page.wait_for_selector(".composer-input")
    assert errors == []
    return page


def ask(page: Page, question: str) -> None:
    page.fill(".composer-input", question)
    page.keyboard.press("Enter")


def last_answer(page: Page) -> str:
    return page.locator(".turn .answer .markdown").last.inner_text().strip()


def wait_answered(page: Page, turns: int) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('.turn').length === n && !document.querySelector('.turn .cursor')",
        arg=turns,
    )


def conversation_id(page: Page) -> str:
    stored: dict[str, dict[str, str]] = json.loads(
        page.evaluate("localStorage.getItem('conversationIdInfo')")
    )
    (by_user,) = stored.values()
    return by_user["DEFAULT"]


def test_a_conversation_streams_stops_and_survives_a_reload(
    context: BrowserContext, web_server: ServerProcess, upstream_server: FakeUpstream
) -> None:
    page = open_chat(context, web_server)
    assert page.locator(".welcome h1").inner_text() == "Order Help"
    assert "Hello ! I answer questions" in page.locator(".answer.opening").inner_text()
    page.fill("#input-name", "Ann")  # the opening statement is filled in as the form is

    # Streamed: the stop button shows while the answer grows, one chunk at a time.
    upstream_server.behaviour.rounds = [
        Round(chunks=["Hello", " from", " the", " fake", " model."], ttft=0.3)
    ]
    page.locator(".suggestions .chip", has_text="Where is my order?").click()
    page.wait_for_selector(".stop-button:visible")
    wait_answered(page, 1)
    assert last_answer(page) == FULL_ANSWER
    assert page.locator(".stop-button").is_hidden()
    assert page.locator(".turn .bubble").inner_text() == "Where is my order?"
    # The page names the new conversation once the answer is in.
    page.wait_for_selector(".conversation.active >> text=A fake title")

    # Stopped: the model never finishes on its own; the stop button ends the answer where it is.
    upstream_server.behaviour.rounds = [Round(chunks=["A partial", " answer"], hang=True)]
    ask(page, "Tell me everything")
    page.wait_for_function(
        "() => document.querySelectorAll('.turn .markdown')[1]?.innerText.includes('answer')"
    )
    page.click(".stop-button")
    wait_answered(page, 2)
    assert last_answer(page) == "A partial answer"

    # A reload shows the same conversation, from the server's history.
    page.reload()
    page.wait_for_function("() => document.querySelectorAll('.turn').length === 2")
    assert [t.strip() for t in page.locator(".turn .bubble").all_inner_texts()] == [
        "Where is my order?",
        "Tell me everything",
    ]
    assert last_answer(page) == "A partial answer"
    assert page.locator(".conversation.active").inner_text().strip() == "A fake title"
    # The passport is an HttpOnly cookie: the page's scripts cannot read it.
    assert page.evaluate("document.cookie") == ""
    (cookie,) = [c for c in context.cookies() if c["name"] == f"passport-{SITE}"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    # Feedback: a dislike with a comment reaches the app's feedback list.
    page.locator(".answer-ops").last.get_by_role("button", name="Dislike").click()
    page.fill(".feedback-form textarea", "It stopped early.")
    page.click("text=Send feedback")
    page.wait_for_selector(".answer-ops >> [aria-pressed=true]")
    with httpx.Client(base_url=web_server.v1, headers={"Authorization": f"Bearer {WEB_KEY}"}) as api:
        feedbacks = api.get("/app/feedbacks").json()["data"]
    assert [(f["rating"], f["content"]) for f in feedbacks] == [("dislike", "It stopped early.")]


def test_another_browser_profile_cannot_see_a_conversation(
    browser: Browser, context: BrowserContext, web_server: ServerProcess
) -> None:
    page = open_chat(context, web_server)
    ask(page, "Something private")
    wait_answered(page, 1)
    private = conversation_id(page)
    page.wait_for_selector(".conversation.active")

    # Another profile, on a phone, in dark mode: an empty list, and the id itself leads nowhere.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark", is_mobile=True)
    try:
        other = open_chat(phone, web_server)
        assert other.evaluate("document.documentElement.dataset.theme") == "dark"
        # The conversation list is a drawer, off screen until the menu button opens it.
        drawer = "document.querySelector('.sidebar').getBoundingClientRect()"
        assert other.evaluate(f"{drawer}.right") <= 0
        other.click(".drawer-toggle")
        other.wait_for_function(f"() => {drawer}.left >= 0")
        other.wait_for_selector(".sidebar .list-empty")
        assert other.locator(".conversation").count() == 0
        status = other.evaluate(
            """async ([id, code]) => (await fetch(`../api/messages?conversation_id=${id}`,
                 {headers: {"X-App-Code": code}})).status""",
            [private, SITE],
        )
        assert status == 404
        # Told to open it (the first profile's remembered conversation), the page starts a new one.
        remembered = page.evaluate("localStorage.getItem('conversationIdInfo')")
        assert private in remembered
        other.evaluate("value => localStorage.setItem('conversationIdInfo', value)", remembered)
        other.reload()
        other.wait_for_function("id => !localStorage.getItem('conversationIdInfo').includes(id)", arg=private)
        other.wait_for_selector(".welcome")
        assert other.locator(".turn").count() == 0
    finally:
        phone.close()


def test_answers_render_markdown_and_never_markup(context: BrowserContext, web_server: ServerProcess) -> None:
    page = open_chat(context, web_server)
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    rendered: dict[str, Any] = page.evaluate(
        """async () => {
            const { renderMarkdown } = await import("../web-static/markdown.js");
            const box = document.createElement("div");
            box.append(renderMarkdown([
              "# Title", "", "Some **bold**, `code` and a [link](https://example.com).",
              "<img src=x onerror=alert(1)> <script>alert(2)</script>",
              "[click](javascript:alert(3)) ![pixel](https://tracker.example/p.png?q=secret)",
              "", "```html", "<b>not bold</b>", "```", "", "| a | b |", "|---|--:|", "| 1 | 2 |",
            ].join("\\n")));
            document.body.append(box);
            return {
              tags: [...box.querySelectorAll("*")].map((e) => e.tagName.toLowerCase()),
              hrefs: [...box.querySelectorAll("a")].map((a) => a.getAttribute("href")),
              code: box.querySelector("pre code").textContent,
              text: box.innerText,
            };
        }"""
    )
    assert {"h1", "strong", "code", "a", "table", "pre"} <= set(rendered["tags"])
    assert not {"img", "script", "b"} & set(rendered["tags"])
    assert rendered["hrefs"] == ["https://example.com", "https://tracker.example/p.png?q=secret"]
    assert rendered["code"] == "<b>not bold</b>"
    assert "<img src=x onerror=alert(1)>" in rendered["text"]
    assert dialogs == []


def test_the_embed_bubble_opens_the_chat_page(
    browser: Browser, web_server: ServerProcess, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(WAIT_MS)
    try:
        with embedding_site(tmp_path, web_server.base_url, SITE, "u-42") as url:
            page = context.new_page()
            page.goto(url)
            bubble = page.locator("#dify-chatbot-bubble-button")
            bubble.wait_for()
            frame_element = page.locator("#dify-chatbot-bubble-window")
            assert frame_element.is_hidden()
            assert frame_element.get_attribute("allow") == "fullscreen;microphone"
            src = frame_element.get_attribute("src") or ""
            assert src.startswith(f"{web_server.base_url}/chatbot/{SITE}?name=")
            bubble.click()
            frame_element.wait_for(state="visible")
            frame = page.frame_locator("#dify-chatbot-bubble-window")
            # The inputs and the user id travel gzip-compressed and base64-encoded.
            frame.locator(".answer.opening", has_text="Hello Ann!").wait_for()
            assert frame.locator(".topbar-title").inner_text() == "Order Help"
            frame.locator(".expand").wait_for()  # the script answered the page's ready message
            frame.locator(".expand").click()
            page.wait_for_selector("#dify-chatbot-bubble-window.dify-chatbot-expanded")
            frame.locator(".composer-input").fill("Hi from the shop")
            frame.locator(".composer-input").press("Enter")
            frame.locator(".turn .answer-ops").wait_for()
            assert frame.locator(".turn .markdown").inner_text().strip() == FULL_ANSWER
            page.locator("h1").click()  # Escape on the embedding page closes the chat
            page.keyboard.press("Escape")
            frame_element.wait_for(state="hidden")
    finally:
        context.close()
    # The embedding site's user id names the visitor: the app's backend finds the conversation.
    with httpx.Client(base_url=web_server.v1, headers={"Authorization": f"Bearer {WEB_KEY}"}) as api:
        listed = api.get("/conversations", params={"user": "web:u-42"}).json()["data"]
    assert len(listed) == 1
