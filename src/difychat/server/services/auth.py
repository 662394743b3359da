"""Who is calling: the app behind an API key, and the end user behind ``user``."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App
from difychat.server.errors import Forbidden, InvalidParam, Unauthorized
from difychat.server.generation.limits import InProcessLimiter, KeyLimits, Limiter, Slot
from difychat.server.services.key_usage import KeyUsage
from difychat.server.services.keys import hash_key
from difychat.server.store import apps as app_store
from difychat.server.store import writer
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.reader import Reader
from difychat.server.store.writer import GroupWriter

DEFAULT_USER = "DEFAULT-USER"
MAX_CACHED_KEYS = 10_000


@dataclass(frozen=True, slots=True)
class _Key:
    app_id: str
    limits: KeyLimits
    expires_at: datetime | None


class Authenticator:
    """Checks API keys and their limits; a valid key is remembered for ``cache_seconds`` (0: ask the
    database every time).

    Unknown keys are never remembered, so a key created while the server runs works at once; a key
    revoked elsewhere (``difychat keys revoke``, another worker) is refused within ``cache_seconds``.
    An expired key is refused at once. A key without limits of its own gets ``default_rpm`` and
    ``default_concurrency`` (0: unlimited).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        catalog: dict[str, App],
        *,
        cache_seconds: float = 0.0,
        limiter: Limiter | None = None,
        usage: KeyUsage | None = None,
        default_rpm: int = 0,
        default_concurrency: int = 0,
    ) -> None:
        self._engine = engine
        self._catalog = catalog
        self._cache_seconds = cache_seconds
        self._limiter: Limiter = limiter or InProcessLimiter()
        self._usage = usage
        self._default_rpm = default_rpm
        self._default_concurrency = default_concurrency
        self._valid: dict[str, tuple[_Key, float]] = {}

    async def authenticate(self, authorization: str | None) -> App:
        """The checks of the contract, in its order; the first failure wins. Then the key's requests
        per minute (429 with Retry-After)."""
        app, key = await self._check(authorization)
        if key.limits.rpm:
            await self._limiter.count(key.limits)
        return app

    async def admit_turn(self, authorization: str | None) -> tuple[App, Slot]:
        """``authenticate`` for a chat turn, which also takes a slot of its key's and its app's
        concurrent requests, in the same step: the caller gives the slot back when the turn ends."""
        app, key = await self._check(authorization)
        slot = await self._limiter.acquire(key.limits, app.id, app.config.max_active_requests)
        return app, slot

    async def _check(self, authorization: str | None) -> tuple[App, _Key]:
        # As the contract says: the header needs a space somewhere, and the scheme ends at the first
        # run of whitespace, whatever it holds (spaces, tabs).
        parts = authorization.split(None, 1) if authorization and " " in authorization else []
        if len(parts) < 2:
            raise Unauthorized("Authorization header must be provided and start with 'Bearer'")
        scheme, token = parts[0], parts[1].strip()
        if scheme.lower() != "bearer":
            raise Unauthorized("Authorization scheme must be 'Bearer'")
        if not token.startswith("app-"):
            raise Unauthorized("Access token is invalid")
        key = await self._key(hash_key(token))
        if key.expires_at is not None and utcnow() >= key.expires_at:
            raise Unauthorized("Access token is invalid")
        if self._usage is not None:
            self._usage.touch(key.limits.key_id)
        app = self._catalog.get(key.app_id)
        if app is None or app.status == "removed":
            raise Forbidden("The app no longer exists.")
        if app.status != "normal":
            raise Forbidden("The app's status is abnormal.")
        if not app.enable_api:
            raise Forbidden("The app's API service has been disabled.")
        return app, key

    async def _key(self, key_hash: str) -> _Key:
        now = time.monotonic()
        cached = self._valid.get(key_hash)
        if cached is not None and now - cached[1] < self._cache_seconds:
            return cached[0]
        async with self._engine.connect() as conn:
            row = await app_store.key_by_hash(conn, key_hash)
        if row is None or row.revoked_at is not None:
            self._valid.pop(key_hash, None)
            raise Unauthorized("Access token is invalid")
        limits = KeyLimits(
            str(row.id),
            rpm=self._default_rpm if row.rpm is None else row.rpm,
            concurrency=self._default_concurrency if row.concurrency is None else row.concurrency,
        )
        key = _Key(str(row.app_id), limits, row.expires_at)
        if self._cache_seconds > 0:
            if len(self._valid) >= MAX_CACHED_KEYS:
                self._valid.clear()
            self._valid[key_hash] = (key, now)
        return key


class EndUsers:
    """Resolves ``user`` strings to end-user ids, per app; ids never change, so they are cached."""

    def __init__(self, reads: Reader, writes: GroupWriter, cache_size: int = 65536) -> None:
        self._reads = reads
        self._writes = writes
        self._cache: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._cache_size = cache_size

    async def resolve(self, app: App, user: str | None, *, required: bool) -> str:
        if user is None or user == "":
            if required:
                raise InvalidParam("Arg user must be provided.")
            return await self.ensure(app.id, DEFAULT_USER, anonymous=True)
        if len(user) > 255 or "\x00" in user:
            raise InvalidParam("user must be at most 255 characters, without NUL characters.")
        return await self.ensure(app.id, user, anonymous=False)

    async def find(self, app: App, user: str | None) -> str | None:
        """The end user's id if it was ever seen (reads never create users)."""
        key = (app.id, user or DEFAULT_USER)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        found = await self._reads.run(app_store.end_user_of_session, *key)
        if found is not None:  # one never seen is asked again: it may be created meanwhile
            self._remember(key, found)
        return found

    async def ensure(self, app_id: str, session: str, *, anonymous: bool) -> str:
        """The end user of ``session`` in the app, made the first time it is seen."""
        key = (app_id, session)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        found = await self._reads.run(app_store.end_user_of_session, app_id, session)
        if found is None:
            # A new end user is one more row for the group writer: a burst of new users then
            # shares its commits with the turns' rows instead of queueing for the database's
            # write lock one transaction each. Whoever wrote first (another request, another
            # worker) wins; the id is read back.
            row = {"app_id": app_id, "session_id": session, "is_anonymous": anonymous}
            await self._writes.write(writer.new_end_user(id=new_id(), created_at=utcnow(), **row))
            found = await self._reads.run(app_store.end_user_of_session, app_id, session)
            if found is None:  # pragma: no cover - the row was just committed
                raise RuntimeError("the new end user was not found after its commit")
        self._remember(key, found)
        return found

    def _remember(self, key: tuple[str, str], user_id: str) -> None:
        self._cache[key] = user_id
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
