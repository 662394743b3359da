"""The web app's identity pieces: passport tokens, site codes, the sliding expiry, signed user ids,
and the apps-file keys of a site."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson
import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import create_async_engine

from difychat.server.domain.apps import App, AppConfig
from difychat.server.domain.config_keys import unknown_keys
from difychat.server.errors import Unauthorized
from difychat.server.generation.limits import InProcessLimiter
from difychat.server.services import web_tokens
from difychat.server.services.auth import EndUsers
from difychat.server.services.web_sites import Passport, WebSites, derived_code, sign_user_id, site_code
from difychat.server.store.reader import Reader
from difychat.server.store.writer import GroupWriter

KEY = b"k" * 32


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _refused(token: str, message: str, *, now: float = 0) -> None:
    with pytest.raises(Unauthorized) as caught:
        web_tokens.read(token, KEY, now=now)
    assert caught.value.message == message


def test_a_token_reads_back_its_claims_in_order_until_it_expires() -> None:
    claims = {"iss": "a", "sub": "Web API Passport", "end_user_id": "u", "exp": 100}
    token = web_tokens.sign(claims, KEY)
    assert token.count(".") == 2
    header = orjson.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert list(web_tokens.read(token, KEY, now=99.9)) == ["iss", "sub", "end_user_id", "exp"]
    _refused(token, "Token has expired.", now=100)


def test_tokens_not_signed_with_the_key_are_refused() -> None:
    token = web_tokens.sign({"end_user_id": "u"}, KEY)
    head, body, signature = token.split(".")
    _refused(web_tokens.sign({"end_user_id": "u"}, b"other"), "Invalid token signature.")
    _refused(f"{head}.{_b64(orjson.dumps({'end_user_id': 'v'}))}.{signature}", "Invalid token signature.")
    # The algorithm is the server's, whatever the header says.
    unsigned = f"{_b64(orjson.dumps({'alg': 'none'}))}.{body}."
    _refused(unsigned, "Invalid token.")
    for bad in ("", "a.b", "a.b.c.d", "!!.??.**", f"{head}.{body}.{signature}é", "x" * 5000):
        _refused(bad, "Invalid token.")
    # A signed body that is not an object, or an expiry that is not a time, is no passport.
    for claims in ([1, 2], {"exp": "soon"}, {"exp": True}):
        raw = f"{head}.{_b64(orjson.dumps(claims))}"
        mac = web_tokens._mac(KEY, raw)
        _refused(f"{raw}.{_b64(mac)}", "Invalid token.")


def test_site_codes_are_stable_and_an_app_may_set_its_own() -> None:
    code = derived_code("secret", "Support Bot")
    assert len(code) == 16 and code.isalnum() and code.isascii()
    assert code == derived_code("secret", "Support Bot")
    assert code != derived_code("secret", "Support Bot 2")
    assert code != derived_code("another secret", "Support Bot")
    assert site_code("secret", AppConfig(name="Support Bot")) == code
    chosen = AppConfig.model_validate({"name": "Support Bot", "site": {"code": "MyOwnCode123"}})
    assert site_code("secret", chosen) == "MyOwnCode123"
    for bad in ("short", "has space in it", "x" * 65, "ünïcödé-code"):
        with pytest.raises(ValidationError):
            AppConfig.model_validate({"name": "a", "site": {"code": bad}})


def test_the_site_keys_are_known_to_the_apps_file_checker() -> None:
    entry: dict[str, Any] = {
        "name": "a",
        "site": {"enabled": False, "code": "CODECODE1", "embed_secret": "s"},
    }
    assert list(unknown_keys(AppConfig, entry)) == []
    assert list(unknown_keys(AppConfig, {"name": "a", "site": {"enable": False}})) == [
        'unknown key "site.enable" (did you mean "site.enabled"?)'
    ]
    config = AppConfig.model_validate(entry)
    assert "embed_secret" not in config.snapshot()["site"]  # a credential: never stored


def _app(name: str, code: str | None = None) -> App:
    site = {"code": code} if code else {}
    return App(name, name, "chat", AppConfig.model_validate({"name": name, "site": site}), "config")


def _sites(apps: dict[str, App], **kwargs: Any) -> WebSites:
    # The engine is never connected to by what these tests call.
    engine = create_async_engine("sqlite+aiosqlite://")
    users = EndUsers(Reader(engine), GroupWriter(engine))
    return WebSites(engine, apps, "secret", InProcessLimiter(), end_users=users, **kwargs)


def test_a_passport_is_renewed_past_half_its_life() -> None:
    now = [1_000_000.0]
    app = _app("a")
    sites = _sites({"a": app}, lifetime=100, clock=lambda: now[0])
    passport = Passport("token", app, sites.code_of(app), "user", expires_at=1_000_100, lifetime=100)
    assert not sites.needs_renewal(passport)
    now[0] += 49
    assert not sites.needs_renewal(passport)
    now[0] += 2
    assert sites.needs_renewal(passport)
    renewed = sites.renew(passport)
    assert renewed.expires_at == 1_000_151 and renewed.end_user_id == "user"
    assert renewed.token != passport.token and not sites.needs_renewal(renewed)


def test_sites_are_found_by_code_and_two_apps_cannot_share_one() -> None:
    open_app, closed_app = _app("open", "OpenCode1234"), _app("closed", "ClosedCode12")
    closed_app.config.site.enabled = False
    sites = _sites({"open": open_app, "closed": closed_app})
    assert sites.site("OpenCode1234") is open_app
    assert sites.site("ClosedCode12") is None and sites.site("Nothing12345") is None
    assert sites.sites() == [(open_app, "OpenCode1234")]
    with pytest.raises(ValueError, match="same site code"):
        _sites({"a": _app("a", "SameCode1234"), "b": _app("b", "SameCode1234")})


def test_a_signed_user_id_is_the_id_its_time_and_their_hmac() -> None:
    mac = hmac.new(b"s", b"u-42.1700000000", hashlib.sha256).hexdigest()
    assert sign_user_id("s", "u-42", 1700000000) == f"u-42.1700000000.{mac}"
