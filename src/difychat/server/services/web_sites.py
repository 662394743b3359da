"""Each app's web chat site (``/chat/<code>``) and the passports that say who its visitors are.

A site is an app whose ``site.enabled`` is true (the default) and whose status is normal; its code
is ``site.code`` or 16 letters and digits derived from the server's secret and the app's name, so
it survives restarts and is the same on every worker.

A passport (webapp contract B3) is an HS256 token whose claims are, in order, ``iss`` (the app's
id), ``sub``, ``app_id``, ``app_code``, ``end_user_id`` and ``exp`` (difychat's: it expires). Each
passport is an end user of its app of its own; web end users are kept apart from the service API's
users by their session id, ``web:<user id>``, so that a page visitor never shares conversations
with an API ``user`` of the same name. ``GET /api/passport`` with a still valid passport cookie
keeps its end user (a reload is the same visitor); with ``user_id`` it is that user's, created on
first sight; otherwise a new anonymous one.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App, AppConfig
from difychat.server.errors import BadRequest, InvalidParam, NotFound, Unauthorized
from difychat.server.generation.limits import KeyLimits, Limiter, Slot
from difychat.server.services import web_tokens
from difychat.server.services.auth import EndUsers
from difychat.server.store import apps as app_store

SUBJECT = "Web API Passport"
SESSION_PREFIX = "web:"
DEFAULT_LIFETIME = 30 * 24 * 3600
# A signed user id is good for a day (and a few minutes early, for clocks that disagree).
SIGNED_MAX_AGE = 24 * 3600
SIGNED_CLOCK_SKEW = 300
MAX_USER_ID = 255 - len(SESSION_PREFIX)
SITE_GONE = "Site URL is no longer valid."
SITE_DISABLED = "Site is disabled."
CODE_MISSING = "X-App-Code header is missing."
TOKEN_MISSING = "App token is missing."
SIGNED_FORMAT = "user_id must be signed: <id>.<unix time>.<hex HMAC-SHA256>, at most a day old."

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Page visitors have no key: only their app's own limit on answers at once applies.
_NO_KEY = KeyLimits("web-app")
_KNOWN_USERS = 65536


def derived_code(secret_key: str, app_name: str) -> str:
    """The site code of an app that sets none: 16 letters and digits."""
    message = b"difychat web site\x00" + app_name.encode()
    digest = hmac.new(secret_key.encode(), message, hashlib.sha256).digest()
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(16):
        number, index = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "".join(chars)


def site_code(secret_key: str, config: AppConfig) -> str:
    return config.site.code or derived_code(secret_key, config.name)


def sign_user_id(secret: str, user_id: str, timestamp: int) -> str:
    """``<id>.<unix time>.<hex HMAC-SHA256 of "<id>.<unix time>">``: what an embedding page's
    server hands its page when the app requires signed user ids (``site.embed_secret``)."""
    message = f"{user_id}.{timestamp}"
    mac = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return f"{message}.{mac}"


def is_chat_app(app: App) -> bool:
    return app.mode in ("chat", "agent-chat")


@dataclass(frozen=True, slots=True)
class Passport:
    token: str
    app: App
    code: str
    end_user_id: str
    expires_at: int  # unix seconds
    lifetime: int


class WebSites:
    def __init__(
        self,
        engine: AsyncEngine,
        catalog: dict[str, App],
        secret_key: str,
        limiter: Limiter,
        *,
        end_users: EndUsers,
        lifetime: int = DEFAULT_LIFETIME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._end_users = end_users
        self._catalog = catalog
        self._secret = secret_key
        self._key = hmac.new(secret_key.encode(), b"difychat web passport", hashlib.sha256).digest()
        self._limiter = limiter
        self.lifetime = lifetime
        self._clock = clock
        self._known: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._codes = {app.id: site_code(secret_key, app.config) for app in catalog.values()}
        self._by_code: dict[str, str] = {}
        for app_id, code in self._codes.items():
            if code in self._by_code:
                names = sorted(catalog[i].name for i in (app_id, self._by_code[code]))
                raise ValueError(f"apps {names[0]!r} and {names[1]!r} have the same site code")
            self._by_code[code] = app_id

    def code_of(self, app: App) -> str:
        return self._codes.get(app.id) or site_code(self._secret, app.config)

    def _find(self, code: str) -> App | None:
        app_id = self._by_code.get(code)
        return None if app_id is None else self._catalog.get(app_id)

    def site(self, code: str) -> App | None:
        """The app serving the site ``code``, if it is open."""
        app = self._find(code)
        if app is None or app.status != "normal" or not app.config.site.enabled:
            return None
        return app

    def sites(self) -> list[tuple[App, str]]:
        """Every open site, with its code."""
        return [(app, code) for app_id, code in self._codes.items() if (app := self.site(code)) is not None]

    async def issue(self, code: str | None, user_id: str | None, cookie: str | None) -> Passport:
        """A passport for the site ``code`` (``GET /api/passport``)."""
        if not code:
            raise Unauthorized(CODE_MISSING)
        app = self.site(code)
        if app is None:
            raise NotFound()
        if user_id:
            session = SESSION_PREFIX + self._user_id(app, user_id)
        else:
            current = await self._current(code, cookie)
            if current is not None:
                return self._mint(app, code, current.end_user_id)
            session = SESSION_PREFIX + str(uuid.uuid4())
        end_user_id = await self._end_users.ensure(app.id, session, anonymous=True)
        self._remember(app.id, end_user_id)
        return self._mint(app, code, end_user_id)

    async def _current(self, code: str, cookie: str | None) -> Passport | None:
        if not cookie:
            return None
        try:
            return await self.verify(code, cookie)
        except (Unauthorized, BadRequest, NotFound):
            return None

    def _user_id(self, app: App, user_id: str) -> str:
        secret = app.config.site.embed_secret
        if secret is not None:
            user_id = self._signed(secret.get_secret_value(), user_id)
        if len(user_id) > MAX_USER_ID:
            raise InvalidParam(f"user_id must be at most {MAX_USER_ID} characters.")
        return user_id

    def _signed(self, secret: str, value: str) -> str:
        parts = value.rsplit(".", 2)
        refused = InvalidParam(SIGNED_FORMAT)
        if len(parts) != 3 or not parts[0] or not parts[1].isdigit():
            raise refused
        user_id, stamp, _ = parts
        expected = sign_user_id(secret, user_id, int(stamp))
        age = self._clock() - int(stamp)
        if not hmac.compare_digest(expected.encode(), value.encode()) or not (
            -SIGNED_CLOCK_SKEW <= age <= SIGNED_MAX_AGE
        ):
            raise refused
        return user_id

    def _mint(self, app: App, code: str, end_user_id: str) -> Passport:
        expires_at = int(self._clock()) + self.lifetime
        claims = {
            "iss": app.id,
            "sub": SUBJECT,
            "app_id": app.id,
            "app_code": code,
            "end_user_id": end_user_id,
            "exp": expires_at,
        }
        token = web_tokens.sign(claims, self._key)
        return Passport(token, app, code, end_user_id, expires_at, self.lifetime)

    def needs_renewal(self, passport: Passport) -> bool:
        """Past half its life: the cookie is re-minted (a sliding expiry)."""
        return passport.expires_at - self._clock() < self.lifetime / 2

    def renew(self, passport: Passport) -> Passport:
        return self._mint(passport.app, passport.code, passport.end_user_id)

    async def verify(self, code: str | None, token: str | None) -> Passport:
        """The passport of a web API request, checked in Dify's order; 401, 400 or 404 otherwise."""
        if not code:
            raise Unauthorized(CODE_MISSING)
        if not token:
            raise Unauthorized(TOKEN_MISSING)
        claims = web_tokens.read(token, self._key, now=self._clock())
        app = self._find(code)
        if app is None or app.status != "normal":
            raise BadRequest(SITE_GONE)
        if not app.config.site.enabled:
            raise BadRequest(SITE_DISABLED)
        end_user_id = claims.get("end_user_id")
        issued_for = (claims.get("app_code"), claims.get("app_id"))
        if not isinstance(end_user_id, str) or issued_for != (code, app.id):
            raise Unauthorized(web_tokens.INVALID_TOKEN)
        if (app.id, end_user_id) not in self._known:
            async with self._engine.connect() as conn:
                found = await app_store.end_user_in_app(conn, app.id, end_user_id)
            if found is None:
                raise NotFound()
            self._remember(app.id, end_user_id)
        expires = claims.get("exp")
        return Passport(token, app, code, end_user_id, int(expires or 0), self.lifetime)

    def _remember(self, app_id: str, end_user_id: str) -> None:
        self._known[(app_id, end_user_id)] = None
        if len(self._known) > _KNOWN_USERS:
            self._known.popitem(last=False)

    async def admit_turn(self, app: App) -> Slot:
        """A slot of the app's answers at once (``max_active_requests``) for a page's chat turn."""
        return await self._limiter.acquire(_NO_KEY, app.id, app.config.max_active_requests)
