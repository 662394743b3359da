"""Screenshots of the web chat page for the README: desktop and mobile, light and dark, plus an
agent's tool step; taken in headless Chromium against ``difychat serve`` and the fake model.

    .venv/bin/python -m tests.e2e.web_screenshots [OUTPUT_DIR]   # default: docs/screenshots
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from tests.e2e.conftest import Database, Launcher, ServerProcess
from tests.e2e.web_browser import AGENT_SITE, SITE, launch, web_apps
from tests.fakes.upstream import FakeUpstream, Round, ScriptedCall

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, ViewportSize

ANSWER = [
    "Your order **#1042** left our warehouse on Monday. ",
    "Here is where it is:\n\n",
    "| Step | Status |\n|---|---|\n| Packed | done |\n| Shipped | done |\n| Delivery | on its way |\n\n",
    "You can follow it from a terminal too:\n\n",
    "```bash\ncurl https://shop.example/track/1042\n```\n\n",
    "It should arrive by **Thursday**. Anything else I can help with?",
]
# One reply serves both the title and the follow-up questions (the first JSON array in it).
COMPLETION = (
    '{"Language Type": "English", "Your Reasoning": "an order", "Your Output": "Order #1042 delivery", '
    '"next": ["Can I change the address?", "Where is the parcel now?"]}'
)
EARLIER = [("Return a jacket", True), ("Gift card balance", False), ("Opening hours on Sunday", False)]


def _seed(page: Page) -> None:
    """Earlier conversations of this visitor, for the sidebar (one of them pinned)."""
    for name, pinned in EARLIER:
        page.evaluate(
            """async ([name, pinned, code]) => {
                const headers = {"X-App-Code": code, "Content-Type": "application/json"};
                const turn = await (await fetch("../api/chat-messages", {method: "POST", headers,
                    body: JSON.stringify({inputs: {}, query: name, response_mode: "blocking"})})).json();
                const at = `../api/conversations/${turn.conversation_id}`;
                await fetch(`${at}/name`, {method: "POST", headers, body: JSON.stringify({name})});
                if (pinned) await fetch(`${at}/pin`, {method: "PATCH", headers});
            }""",
            [name, pinned, SITE],
        )


def _answered(page: Page, turns: int) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('.turn').length === n && !document.querySelector('.turn .cursor')",
        arg=turns,
    )


def chat(
    browser: Browser, server: ServerProcess, upstream: FakeUpstream, out: Path, *, mobile: bool, dark: bool
) -> Path:
    viewport: ViewportSize = {"width": 390, "height": 844} if mobile else {"width": 1280, "height": 820}
    context = browser.new_context(
        viewport=viewport,
        color_scheme="dark" if dark else "light",
        is_mobile=mobile,
        device_scale_factor=2 if mobile else 1,
    )
    try:
        page = context.new_page()
        page.goto(f"{server.base_url}/chat/{SITE}")
        page.wait_for_selector(".composer-input")
        if not mobile:
            _seed(page)
            page.reload()
            page.wait_for_selector(".conversation")
        page.fill("#input-name", "Ann")
        upstream.behaviour.rounds = [Round(chunks=ANSWER)]
        page.fill(".composer-input", "Where is my order #1042?")
        page.keyboard.press("Enter")
        _answered(page, 1)
        page.wait_for_selector(".turn .suggestions .chip")
        page.wait_for_selector(".conversation.active >> text=Order #1042 delivery", state="attached")
        page.evaluate("document.querySelector('.scroller').scrollTop = 0")
        path = out / f"chat-{'mobile' if mobile else 'desktop'}-{'dark' if dark else 'light'}.png"
        page.screenshot(path=str(path))
        return path
    finally:
        context.close()


def agent(browser: Browser, server: ServerProcess, upstream: FakeUpstream, out: Path) -> Path:
    context = browser.new_context(viewport={"width": 1280, "height": 820}, color_scheme="light")
    try:
        page = context.new_page()
        page.goto(f"{server.base_url}/chat/{AGENT_SITE}")
        page.wait_for_selector(".composer-input")
        upstream.behaviour.rounds = [
            Round(calls=[ScriptedCall("calculator", '{"expression": "1042 * 0.15"}')]),
            Round(chunks=["A 15% tip on **1042** is **156.3**."]),
        ]
        upstream.behaviour.completion = '{"Your Output": "A tip on order #1042"}'
        page.fill(".composer-input", "What is a 15% tip on 1042?")
        page.keyboard.press("Enter")
        _answered(page, 1)
        page.wait_for_selector(".conversation.active >> text=A tip on order #1042")
        page.click(".tool-step summary")
        path = out / "chat-agent-tool-step.png"
        page.screenshot(path=str(path))
        return path
    finally:
        context.close()


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    upstream = FakeUpstream().start()
    upstream.behaviour.completion = COMPLETION
    try:
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch)
            apps = web_apps(upstream)
            for app in apps["apps"]:
                if app["name"] == "Order Help":
                    app["suggested_questions_after_answer"] = {"enabled": True}
            config = root / "apps.yaml"
            config.write_text(yaml.safe_dump(apps, allow_unicode=True), encoding="utf-8")
            launcher = Launcher(root, upstream, [])
            try:
                server = launcher.new(Database("sqlite", None), config=config)
                with sync_playwright() as playwright:
                    browser = launch(playwright)
                    for mobile in (False, True):
                        for dark in (False, True):
                            print(chat(browser, server, upstream, out, mobile=mobile, dark=dark))
                    print(agent(browser, server, upstream, out))
                    browser.close()
            finally:
                launcher.stop_all()
    finally:
        upstream.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots"))
