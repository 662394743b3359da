"""Who is calling: the app behind an API key, and the end user behind ``user``."""

from __future__ import annotations

import time
from collections import OrderedDict

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App
from difychat.server.errors import Forbidden, InvalidParam, Unauthorized
from difychat.server.services.keys import hash_key
from difychat.server.store import apps as app_store

DEFAULT_USER = "DEFAULT-USER"
MAX_CACHED_KEYS = 10_000


class Authenticator:
    """Checks API keys; a valid key is remembered for ``cache_seconds`` (0: ask the database every time).

    Unknown keys are never remembered, so a key created while the server runs works at once; a key
    revoked elsewhere (``difychat keys revoke``, another worker) is refused within ``cache_seconds``.
    """

    def __init__(self, engine: AsyncEngine, catalog: dict[str, App], *, cache_seconds: float = 0.0) -> None:
        self._engine = engine
        self._catalog = catalog
        self._cache_seconds = cache_seconds
        self._valid: dict[str, tuple[str, float]] = {}

    async def authenticate(self, authorization: str | None) -> App:
        """The checks of the contract, in its order; the first failure wins."""
        if not authorization or " " not in authorization.strip():
            raise Unauthorized("Authorization header must be provided and start with 'Bearer'")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthorized("Authorization scheme must be 'Bearer'")
        token = token.strip()
        if not token.startswith("app-"):
            raise Unauthorized("Access token is invalid")
        app = self._catalog.get(await self._app_id(hash_key(token)))
        if app is None or app.status == "removed":
            raise Forbidden("The app no longer exists.")
        if app.status != "normal":
            raise Forbidden("The app's status is abnormal.")
        if not app.enable_api:
            raise Forbidden("The app's API service has been disabled.")
        return app

    async def _app_id(self, key_hash: str) -> str:
        now = time.monotonic()
        cached = self._valid.get(key_hash)
        if cached is not None and now - cached[1] < self._cache_seconds:
            return cached[0]
        async with self._engine.connect() as conn:
            row = await app_store.key_by_hash(conn, key_hash)
        if row is None or row.revoked_at is not None:
            self._valid.pop(key_hash, None)
            raise Unauthorized("Access token is invalid")
        app_id = str(row.app_id)
        if self._cache_seconds > 0:
            if len(self._valid) >= MAX_CACHED_KEYS:
                self._valid.clear()
            self._valid[key_hash] = (app_id, now)
        return app_id


class EndUsers:
    """Resolves ``user`` strings to end-user ids, per app; ids never change, so they are cached."""

    def __init__(self, engine: AsyncEngine, cache_size: int = 65536) -> None:
        self._engine = engine
        self._cache: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._cache_size = cache_size

    async def resolve(self, app: App, user: str | None, *, required: bool) -> str:
        if user is None or user == "":
            if required:
                raise InvalidParam("Arg user must be provided.")
            return await self._ensure(app.id, DEFAULT_USER, anonymous=True)
        if len(user) > 255 or "\x00" in user:
            raise InvalidParam("user must be at most 255 characters, without NUL characters.")
        return await self._ensure(app.id, user, anonymous=False)

    async def find(self, app: App, user: str | None) -> str | None:
        """The end user's id if it was ever seen (reads never create users)."""
        session = user or DEFAULT_USER
        cached = self._cache.get((app.id, session))
        if cached is not None:
            return cached
        async with self._engine.connect() as conn:
            return await app_store.end_user_id(conn, app.id, session)

    async def _ensure(self, app_id: str, session: str, *, anonymous: bool) -> str:
        key = (app_id, session)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        async with self._engine.begin() as conn:
            user_id = await app_store.ensure_end_user(conn, app_id, session, anonymous)
        self._cache[key] = user_id
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return user_id
