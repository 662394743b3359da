"""The chat pages (``/chat/<code>``, and ``/chatbot/<code>`` for the embed bubble), their static
assets and ``/embed.js``.

A page is a small HTML shell; the assets in ``static/`` (plain ES modules and CSS, shipped in the
package: nothing to build) draw it and talk to ``/api``. Everything is addressed relative to the
page, so a server published under a path prefix works unchanged.
"""

from __future__ import annotations

import html
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from difychat._version import __version__
from difychat.server.api.context import services
from difychat.server.api.described import HTML, JAVASCRIPT, WEB_PAGES, Param, Reply, describe
from difychat.server.api.web.context import sites
from difychat.server.services.web_sites import is_chat_app

STATIC_DIR = Path(__file__).with_name("static")

# The page runs only its own scripts and styles; images may come from the app's icon URL.
# Markdown images in answers are shown only from this server (static/markdown.js): a remote image
# would tell its host whatever a prompt injection put in its URL.
_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob: https: http:",
        "media-src 'self' blob: data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    )
)
_HEADERS = {
    "Content-Security-Policy": _POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

_SHELL = """<!doctype html>
<html lang="{lang}" data-mode="{mode}" data-code="{code}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta name="color-scheme" content="light dark">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="../web-static/chat.css?v={version}">
<script type="module" src="../web-static/app.js?v={version}"></script>
</head>
<body>
<div id="app" class="app" aria-busy="true"><noscript>This chat page needs JavaScript.</noscript></div>
</body>
</html>
"""

_UNAVAILABLE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>App unavailable</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="../web-static/chat.css?v={version}">
</head>
<body>
<main class="unavailable"><h1>App unavailable</h1>
<p>This chat page does not exist or has been switched off.</p></main>
</body>
</html>
"""


def _page(request: Request, mode: str) -> Response:
    code = request.path_params["code"]
    app = sites(services(request)).site(code)
    if app is None or not is_chat_app(app):
        return HTMLResponse(_UNAVAILABLE.format(version=__version__), status_code=404, headers=_HEADERS)
    site = app.config.site
    body = _SHELL.format(
        lang=html.escape(site.default_language.split("-")[0] or "en"),
        mode=mode,
        code=html.escape(code),
        title=html.escape(site.title or app.name),
        version=__version__,
    )
    return HTMLResponse(body, headers=_HEADERS)


_CODE = {"code": Param(description="The app's site code (`difychat web url`).")}
_UNAVAILABLE_PAGE = Reply(404, HTML, description="No chat app has this site code, or its page is off.")


@describe(
    "An app's web chat page",
    WEB_PAGES,
    path=_CODE,
    media=HTML,
    replies=(_UNAVAILABLE_PAGE,),
    errors=False,
)
async def chat_page(request: Request) -> Response:
    return _page(request, "chat")


@describe(
    "An app's compact chat page, for the embed bubble",
    WEB_PAGES,
    path=_CODE,
    media=HTML,
    replies=(_UNAVAILABLE_PAGE,),
    errors=False,
)
async def chatbot_page(request: Request) -> Response:
    return _page(request, "chatbot")


@describe("The embed script for the chat bubble", WEB_PAGES, media=JAVASCRIPT, errors=False)
async def embed_script(request: Request) -> Response:
    """Dify's ``embed.js`` / ``embed.min.js`` contract: the chat bubble for any web page."""
    return FileResponse(
        STATIC_DIR / "embed.js",
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


_ASSET_HEADERS = [(b"cache-control", b"no-cache"), (b"x-content-type-options", b"nosniff")]


class Assets:
    """The page's assets; revalidated on every load, so an upgrade never runs stale scripts."""

    def __init__(self) -> None:
        self._files = StaticFiles(directory=STATIC_DIR)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), *_ASSET_HEADERS]
                message = {**message, "headers": headers}
            await send(message)

        await self._files(scope, receive, send_with_headers)
