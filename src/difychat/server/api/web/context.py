"""Who calls the web API: the passport of a page visitor, from its cookie or a header.

Every route but ``/passport`` and a few public ones is a ``WebHandler`` wrapped by ``web_route``:
it gets the visitor's verified ``Passport`` (its app and end user) instead of an app key.

The ``X-App-Code`` header is required with the passport, as in Dify. It also makes the cookie
useless to other sites: a cross-site form cannot send a header, and a cross-site script sending one
needs a CORS preflight that the server never answers with credentials allowed.

The cookie, ``passport-<code>``, is HttpOnly, ``Path=/``; over plain HTTP ``SameSite=Lax``. Under
HTTPS it is ``Secure; SameSite=None; Partitioned``: a page framed by another site (the embed
bubble) is a cross-site context where browsers withhold Lax cookies, and a partitioned cookie
is kept per embedding site, so a visitor keeps their conversations there too.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.context import Services, services
from difychat.server.observability.context import bind_app
from difychat.server.services.web_conversations import WebConversationService
from difychat.server.services.web_sites import Passport, WebSites

CODE_HEADER = "x-app-code"
PASSPORT_HEADER = "x-app-passport"

WebHandler = Callable[[Request, Services, Passport], Awaitable[Response]]


def cookie_name(code: str) -> str:
    return f"passport-{code}"


def sites(svc: Services) -> WebSites:
    assert svc.web_sites is not None, "the web app's services are built by create_app"
    return svc.web_sites


def web_conversations(svc: Services) -> WebConversationService:
    assert svc.web_conversations is not None, "the web app's services are built by create_app"
    return svc.web_conversations


def header_token(request: Request) -> str | None:
    """The passport sent as ``X-App-Passport`` or as a bearer token (Dify's page sends either)."""
    found = request.headers.get(PASSPORT_HEADER)
    if found:
        return found.strip()
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def cookie_token(request: Request, code: str | None) -> str | None:
    return request.cookies.get(cookie_name(code)) if code else None


def set_passport_cookie(request: Request, response: Response, passport: Passport) -> None:
    secure = request.url.scheme == "https"
    response.set_cookie(
        cookie_name(passport.code),
        passport.token,
        max_age=passport.lifetime,
        path="/",
        httponly=True,
        secure=secure,
        samesite="none" if secure else "lax",
        partitioned=secure,
    )


def web_route(handler: WebHandler) -> Callable[[Request], Awaitable[Response]]:
    """A route that needs the visitor's passport; a passport read from the cookie past half its life
    is renewed in the response (a sliding expiry)."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        svc = services(request)
        web = sites(svc)
        code = request.headers.get(CODE_HEADER)
        token = header_token(request)
        from_cookie = token is None
        if from_cookie:
            token = cookie_token(request, code)
        passport = await web.verify(code, token)
        bind_app(passport.app.id)  # the request's log lines name the app from here on
        response = await handler(request, svc, passport)
        if from_cookie and web.needs_renewal(passport):
            set_passport_cookie(request, response, web.renew(passport))
        return response

    return endpoint
