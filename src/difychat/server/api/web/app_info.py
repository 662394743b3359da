"""GET /api/site, /api/parameters and /api/meta: what the page shows of its app."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from typing_extensions import TypedDict

from difychat.server.api.context import Services
from difychat.server.api.described import WEB_API, describe
from difychat.server.api.responses import JSON
from difychat.server.api.web.context import web_route
from difychat.server.api.wire import app_info as wire
from difychat.server.services.web_sites import Passport

# The order of the web API's ``site`` object (webapp contract B4).
_SITE_KEYS = (
    "title",
    "chat_color_theme",
    "chat_color_theme_inverted",
    "icon_type",
    "icon",
    "icon_background",
    "icon_url",
    "description",
    "copyright",
    "privacy_policy",
    "custom_disclaimer",
    "default_language",
    "prompt_public",
    "show_workflow_steps",
    "use_icon_as_answer_icon",
)


class WebSiteSettings(TypedDict):
    title: str
    chat_color_theme: str | None
    chat_color_theme_inverted: bool
    icon_type: str
    icon: str | None
    icon_background: str
    icon_url: str | None
    description: str | None
    copyright: str | None
    privacy_policy: str | None
    custom_disclaimer: str
    default_language: str
    prompt_public: bool
    show_workflow_steps: bool
    use_icon_as_answer_icon: bool


class WebSite(TypedDict):
    app_id: str
    end_user_id: str
    enable_site: bool
    site: WebSiteSettings
    model_config: None
    plan: str
    can_replace_logo: bool
    custom_config: None
    mode: str


def site_body(passport: Passport) -> dict[str, Any]:
    shown = {**wire.site(passport.app), "prompt_public": False}
    return {
        "app_id": passport.app.id,
        "end_user_id": passport.end_user_id,
        "enable_site": True,
        "site": {key: shown[key] for key in _SITE_KEYS},
        "model_config": None,
        "plan": "basic",
        "can_replace_logo": False,
        "custom_config": None,
        # difychat's: the page needs the app's mode before it draws anything.
        "mode": passport.app.mode,
    }


@describe("The page's app and site", WEB_API, response=WebSite)
@web_route
async def get_site(request: Request, svc: Services, passport: Passport) -> Response:
    return JSON(site_body(passport))


@describe("The app's input form and features", WEB_API, response=wire.Parameters)
@web_route
async def get_parameters(request: Request, svc: Services, passport: Passport) -> Response:
    reply = await svc.annotations.recent_settings(passport.app)
    return JSON(wire.parameters(passport.app.config, svc.app_info.limits, reply))


@describe("The app's tool icons", WEB_API, response=wire.Meta)
@web_route
async def get_meta(request: Request, svc: Services, passport: Passport) -> Response:
    return JSON(wire.meta(passport.app.config))
