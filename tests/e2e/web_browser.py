"""What the browser tests of the web chat page share with the screenshot script: the apps, the
Chromium launch (the machine's own Chromium: no browser is ever downloaded) and a page on another
origin that embeds the chat bubble."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.fakes.upstream import FakeUpstream
from tests.integration.conftest import apps_file

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

CHROMIUM = Path(os.environ.get("DIFYCHAT_TEST_CHROMIUM", "/usr/bin/chromium"))
# Headless, and quiet on a machine with no network: no background requests of Chromium's own.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

WEB_KEY = "app-webchatwebchatwebchat001"
AGENT_KEY = "app-webagentwebagentwebage01"
SITE = "WebChatSiteCode1"
AGENT_SITE = "WebAgentSiteCod1"
CALCULATOR = {
    "enabled": True,
    "provider_type": "builtin",
    "provider_id": "langgenius/calculator/calculator",
    "tool_name": "calculator",
    "tool_parameters": {},
}


def web_apps(upstream: FakeUpstream) -> dict[str, Any]:
    """The standard apps, plus a chat app and an agent app with the page's features switched on."""
    document = apps_file(upstream)
    model = {"provider": "openai", "name": "fake-model", "base_url": upstream.base_url, "api_key": "sk-test"}
    features: dict[str, Any] = {
        "opening_statement": "Hello {{name}}! I answer questions about your orders.",
        "suggested_questions": ["Where is my order?", "How do I return an item?"],
        "user_input_form": [
            {"text-input": {"variable": "name", "label": "Your name", "required": False, "max_length": 40}}
        ],
        "text_to_speech": {"enabled": True, "voice": "nova"},
        "speech_to_text": {"enabled": True},
        "file_upload": {
            "enabled": True,
            "allowed_file_types": ["image", "document"],
            "allowed_file_upload_methods": ["local_file", "remote_url"],
            "number_limits": 3,
        },
    }
    document["apps"] += [
        {
            "name": "Order Help",
            "api_keys": [WEB_KEY],
            "model": model,
            **features,
            "site": {
                "code": SITE,
                "icon": "\U0001f6cd\ufe0f",
                "icon_background": "#E0EAFF",
                "description": "Ask about orders, shipping and returns.",
                "copyright": "Acme Shop",
                "privacy_policy": "https://example.com/privacy",
                "custom_disclaimer": "Answers are generated and may be wrong.",
            },
        },
        {
            "name": "Calculator Agent",
            "mode": "agent-chat",
            "api_keys": [AGENT_KEY],
            "model": model,
            "agent_mode": {"enabled": True, "strategy": "function_call", "tools": [CALCULATOR]},
            "site": {"code": AGENT_SITE, "icon": "\U0001f9ee", "use_icon_as_answer_icon": True},
        },
    ]
    return document


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)


EMBEDDING_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>A shop</title></head>
<body><h1>A shop that embeds the chat bubble</h1>
<script>
window.difyChatbotConfig = {{
  token: "{token}",
  baseUrl: "{base_url}",
  inputs: {{name: "Ann"}},
  systemVariables: {{user_id: "{user_id}"}},
  userVariables: {{name: "Ann"}},
}};
</script>
<script src="{base_url}/embed.min.js" id="{token}" defer></script>
</body></html>
"""


@contextlib.contextmanager
def embedding_site(root: Path, base_url: str, token: str, user_id: str) -> Iterator[str]:
    """A page on another origin (``localhost``, where the server is ``127.0.0.1``) with Dify's
    bubble snippet, its ``baseUrl`` pointed at difychat; yields the page's URL."""
    (root / "index.html").write_text(
        EMBEDDING_PAGE.format(token=token, base_url=base_url, user_id=user_id), encoding="utf-8"
    )
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="embedding-site", daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        return None
