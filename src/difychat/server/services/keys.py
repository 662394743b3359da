"""API keys: ``app-`` and 24 random letters and digits, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.store import apps as app_store
from difychat.server.store.db import write_transaction

_ALPHABET = string.ascii_letters + string.digits
MAX_KEYS_PER_APP = 10
LABEL_MAX = 255


class KeyCommandError(Exception):
    """A key operation that cannot be done (unknown app, too many keys, unknown key)."""


def generate_key() -> str:
    return "app-" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_hint(key: str) -> str:
    return f"{key[:6]}…{key[-4:]}"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: str
    app: str
    hint: str
    source: str
    created_at: datetime
    revoked_at: datetime | None
    label: str | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    # None: the server's default; 0: unlimited.
    rpm: int | None = None
    concurrency: int | None = None


_DURATION = re.compile(r"(\d+)([hdw])")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_expiry(text: str, now: datetime) -> datetime:
    """``30d``, ``12h``, ``2w`` from ``now``; a date (``2027-01-31``: 00:00 UTC that day) or a date and time
    (UTC unless it names an offset). Naive UTC, in the future, or ``KeyCommandError``."""
    value = text.strip()
    duration = _DURATION.fullmatch(value)
    if duration is not None:
        when = now + int(duration.group(1)) * _UNITS[duration.group(2)]
    else:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise KeyCommandError(
                f"cannot read the expiry {text!r}: write a duration (30d, 12h, 2w) or a date (2027-01-31)"
            ) from None
        when = parsed if parsed.tzinfo is None else parsed.astimezone(UTC).replace(tzinfo=None)
    if when <= now:
        raise KeyCommandError(f"the expiry {text!r} is not in the future")
    return when


async def create_key(
    engine: AsyncEngine,
    app_name: str,
    *,
    label: str | None = None,
    expires_at: datetime | None = None,
    rpm: int | None = None,
    concurrency: int | None = None,
) -> str:
    """A new key for the app, returned once. ``rpm``/``concurrency``: None for the server's defaults, 0 for
    unlimited; ``expires_at`` naive UTC."""
    if label is not None and len(label) > LABEL_MAX:
        raise KeyCommandError(f"a label has at most {LABEL_MAX} characters")
    # The count and the insert are one write transaction: two creations at once (two commands)
    # cannot both see room for one more key.
    async with write_transaction(engine) as conn:
        row = await app_store.app_by_name(conn, app_name)
        if row is None:
            raise KeyCommandError(f"no app named {app_name!r}")
        await app_store.hold_app(conn, str(row.id))
        if await app_store.count_active_keys(conn, str(row.id)) >= MAX_KEYS_PER_APP:
            raise KeyCommandError(f"app {app_name!r} already has {MAX_KEYS_PER_APP} keys; revoke one first")
        key = generate_key()
        await app_store.insert_key(
            conn,
            app_id=str(row.id),
            key_hash=hash_key(key),
            hint=key_hint(key),
            source="cli",
            label=label,
            expires_at=expires_at,
            rpm=rpm,
            concurrency=concurrency,
        )
    return key


async def list_keys(engine: AsyncEngine, app_name: str | None = None) -> list[KeyInfo]:
    async with engine.connect() as conn:
        app_id = None
        if app_name is not None:
            row = await app_store.app_by_name(conn, app_name)
            if row is None:
                raise KeyCommandError(f"no app named {app_name!r}")
            app_id = str(row.id)
        rows = await app_store.list_keys(conn, app_id)
    return [
        KeyInfo(
            str(r.id),
            r.app_name,
            r.hint,
            r.source,
            r.created_at,
            r.revoked_at,
            label=r.label,
            expires_at=r.expires_at,
            last_used_at=r.last_used_at,
            rpm=r.rpm,
            concurrency=r.concurrency,
        )
        for r in rows
    ]


async def revoke_key(engine: AsyncEngine, key_or_id: str) -> int:
    """Revoke by the full key or by the id ``keys list`` shows."""
    async with engine.begin() as conn:
        if key_or_id.startswith("app-"):
            row = await app_store.key_by_hash(conn, hash_key(key_or_id))
            ids = [] if row is None else [str(row.id)]
        else:
            ids = [str(r.id) for r in await app_store.list_keys(conn) if str(r.id) == key_or_id]
        if not ids:
            raise KeyCommandError("no such key")
        return await app_store.revoke_keys(conn, ids)
