"""Who is calling: the app behind an API key, and the end user behind ``user``."""

from __future__ import annotations

from collections import OrderedDict

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App
from difychat.server.errors import Forbidden, InvalidParam, Unauthorized
from difychat.server.services.keys import hash_key
from difychat.server.store import apps as app_store

DEFAULT_USER = "DEFAULT-USER"


class Authenticator:
    def __init__(self, engine: AsyncEngine, catalog: dict[str, App]) -> None:
        self._engine = engine
        self._catalog = catalog

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
        async with self._engine.connect() as conn:
            row = await app_store.key_by_hash(conn, hash_key(token))
        if row is None or row.revoked_at is not None:
            raise Unauthorized("Access token is invalid")
        app = self._catalog.get(str(row.app_id))
        if app is None or app.status == "removed":
            raise Forbidden("The app no longer exists.")
        if app.status != "normal":
            raise Forbidden("The app's status is abnormal.")
        if not app.enable_api:
            raise Forbidden("The app's API service has been disabled.")
        return app


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
