"""Knowledge API keys: ``dataset-`` and 24 letters and digits, stored hashed, optionally limited
to named datasets; and the check of a request's key."""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.errors import Unauthorized
from difychat.server.services.keys import KeyCommandError, hash_key, key_hint
from difychat.server.store import dataset_keys as key_store
from difychat.server.store import datasets as dataset_store
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.dataset_keys import DatasetKeyRow
from difychat.server.store.db import write_transaction

PREFIX = "dataset-"
MAX_KEYS = 10
LABEL_MAX = 255
_ALPHABET = string.ascii_letters + string.digits
# ``last_used_at`` is written at most this often per key.
TOUCH_SECONDS = 60.0
MAX_CACHED_KEYS = 10_000


def generate_dataset_key() -> str:
    return PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(24))


async def create_dataset_key(
    engine: AsyncEngine,
    datasets: Sequence[str] | None = None,
    *,
    label: str | None = None,
    expires_at: datetime | None = None,
    source: str = "cli",
) -> str:
    """A new key, returned once. ``datasets``: names (or ids) of the only datasets it may reach;
    None or empty for every dataset."""
    if label is not None and len(label) > LABEL_MAX:
        raise KeyCommandError(f"a label has at most {LABEL_MAX} characters")
    # The count and the insert are one write transaction: two creations at once (two commands)
    # cannot both see room for one more key; the datasets it is limited to are held meanwhile.
    async with write_transaction(engine) as conn:
        await key_store.hold_keys(conn)
        if await key_store.count_active(conn) >= MAX_KEYS:
            raise KeyCommandError(f"there are already {MAX_KEYS} knowledge keys; revoke one first")
        scope: list[str] | None = None
        if datasets:
            scope = []
            for name in datasets:
                found = await dataset_store.dataset_by_name(conn, name, hold=True)
                if found is None:
                    raise KeyCommandError(f"no dataset named {name!r}")
                if found.id not in scope:
                    scope.append(found.id)
        key = generate_dataset_key()
        await key_store.insert_key(
            conn,
            id=new_id(),
            key_hash=hash_key(key),
            hint=key_hint(key),
            label=label,
            source=source,
            created_at=utcnow(),
            expires_at=expires_at,
            scope=scope,
        )
    return key


async def list_dataset_keys(engine: AsyncEngine) -> list[DatasetKeyRow]:
    async with engine.connect() as conn:
        return await key_store.list_keys(conn)


async def revoke_dataset_key(engine: AsyncEngine, key_or_id: str) -> int:
    """Revoke by the full key or by the id ``keys list`` shows; 0 when it was already revoked."""
    async with engine.begin() as conn:
        if key_or_id.startswith(PREFIX):
            row = await key_store.key_by_hash(conn, hash_key(key_or_id))
        else:
            row = next((k for k in await key_store.list_keys(conn) if k.id == key_or_id), None)
        if row is None:
            raise KeyCommandError("no such key")
        return await key_store.revoke(conn, row.id, utcnow())


@dataclass(frozen=True, slots=True)
class KnowledgeCaller:
    """Who is calling the Knowledge API: a key and the datasets it may reach (None: all)."""

    key_id: str
    scope: frozenset[str] | None

    def reaches(self, dataset_id: str) -> bool:
        return self.scope is None or dataset_id in self.scope


class KnowledgeKeys:
    """Checks ``dataset-`` keys, with the app API's header rules and texts. A valid key is
    remembered for ``cache_seconds`` (a revoked key is refused within that time)."""

    def __init__(self, engine: AsyncEngine, *, cache_seconds: float = 0.0) -> None:
        self._engine = engine
        self._cache_seconds = cache_seconds
        self._valid: dict[str, tuple[DatasetKeyRow, float]] = {}
        self._touched: dict[str, float] = {}

    async def authenticate(self, authorization: str | None) -> KnowledgeCaller:
        if not authorization or " " not in authorization.strip():
            raise Unauthorized("Authorization header must be provided and start with 'Bearer'")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthorized("Authorization scheme must be 'Bearer'")
        token = token.strip()
        if not token.startswith(PREFIX):
            raise Unauthorized("Access token is invalid")
        row = await self._key(hash_key(token))
        if row.expires_at is not None and utcnow() >= row.expires_at:
            raise Unauthorized("Access token is invalid")
        await self._touch(row.id)
        return KnowledgeCaller(row.id, row.scope)

    def forget(self, key_id: str) -> None:
        """Drop the key from the cache (its scope changed)."""
        self._valid = {h: entry for h, entry in self._valid.items() if entry[0].id != key_id}

    async def _key(self, key_hash: str) -> DatasetKeyRow:
        now = time.monotonic()
        cached = self._valid.get(key_hash)
        if cached is not None and now - cached[1] < self._cache_seconds:
            return cached[0]
        async with self._engine.connect() as conn:
            row = await key_store.key_by_hash(conn, key_hash)
        if row is None or row.revoked_at is not None:
            self._valid.pop(key_hash, None)
            raise Unauthorized("Access token is invalid")
        if self._cache_seconds > 0:
            if len(self._valid) >= MAX_CACHED_KEYS:
                self._valid.clear()
            self._valid[key_hash] = (row, now)
        return row

    async def _touch(self, key_id: str) -> None:
        now = time.monotonic()
        last = self._touched.get(key_id)
        if last is not None and now - last < TOUCH_SECONDS:
            return
        self._touched[key_id] = now
        async with self._engine.begin() as conn:
            await key_store.touch(conn, key_id, utcnow())
