"""GET /api/passport, and the public routes a Dify web page asks before it has one."""

from __future__ import annotations

from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from typing_extensions import TypedDict

from difychat.server.api.context import services
from difychat.server.api.described import WEB_API, Param, describe
from difychat.server.api.responses import JSON
from difychat.server.api.web.context import (
    CODE_HEADER,
    cookie_token,
    header_token,
    set_passport_cookie,
    sites,
)
from difychat.server.errors import AppError


class PassportToken(TypedDict):
    access_token: str


class SystemFeatures(TypedDict):
    enable_web_sso_switch_component: bool
    branding: dict[str, Any]
    webapp_auth: dict[str, Any]


class AccessMode(TypedDict):
    accessMode: Literal["public"]


class LoginStatus(TypedDict):
    logged_in: bool
    app_logged_in: bool


@describe(
    "A passport for a web page's visitor",
    WEB_API,
    description="For the site `X-App-Code` names: in the body and as an HttpOnly cookie. "
    "`user_id` (signed, when the site has an embed secret) names the visitor.",
    query={"user_id": Param(description="The visitor's id in the embedding site.")},
    response=PassportToken,
    public=True,
)
async def passport(request: Request) -> Response:
    """A passport for the site named by ``X-App-Code``: in the body (Dify's page keeps it) and as
    the HttpOnly cookie (difychat's page never sees it)."""
    web = sites(services(request))
    code = request.headers.get(CODE_HEADER)
    user_id = request.query_params.get("user_id") or None
    issued = await web.issue(code, user_id, cookie_token(request, code))
    response = JSON({"access_token": issued.token}, headers={"Cache-Control": "no-store"})
    set_passport_cookie(request, response, issued)
    return response


@describe("The page's feature switches", WEB_API, response=SystemFeatures, public=True)
async def system_features(request: Request) -> Response:
    """The page's feature switches: no web-app login of any kind."""
    return JSON(
        {
            "enable_web_sso_switch_component": False,
            "branding": {"enabled": False},
            "webapp_auth": {
                "enabled": False,
                "allow_sso": False,
                "sso_config": {"protocol": ""},
                "allow_email_code_login": False,
                "allow_email_password_login": False,
            },
        }
    )


@describe("The page's access mode", WEB_API, response=AccessMode, public=True)
async def access_mode(request: Request) -> Response:
    return JSON({"accessMode": "public"})


@describe(
    "Whether the visitor has a valid passport",
    WEB_API,
    query={"app_code": Param(description="The site code (else `X-App-Code`).")},
    response=LoginStatus,
    public=True,
)
async def login_status(request: Request) -> Response:
    """``app_logged_in``: whether the request carries a valid passport of ``app_code``."""
    web = sites(services(request))
    code = request.query_params.get("app_code") or request.headers.get(CODE_HEADER)
    token = header_token(request) or cookie_token(request, code)
    try:
        await web.verify(code, token)
        valid = True
    except AppError:
        valid = False
    return JSON({"logged_in": True, "app_logged_in": valid})
