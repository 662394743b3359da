"""Keys stored before keys had labels, expiries and limits keep working after the upgrade."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command

from difychat.server.services.keys import hash_key
from difychat.server.store import db

BEFORE = "0006_worker_leases"
THIS = "0007_key_limits"
KEY = "app-storedbeforetheupgrade1"
NEW_COLUMNS = ["label", "expires_at", "last_used_at", "rpm", "concurrency"]


def columns(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[1] for row in conn.execute("PRAGMA table_info(api_keys)")]


def test_an_earlier_key_gets_empty_new_columns_and_the_upgrade_can_be_undone(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    db.upgrade(url, BEFORE)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO apps (id, name, mode, source, status, enable_api, config_id, created_at, updated_at)"
            " VALUES ('6f1c5a2e00004000800000000000000a', 'Old', 'chat', 'config', 'normal', 1, NULL,"
            " '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        )
        conn.execute(
            "INSERT INTO api_keys (id, app_id, key_hash, hint, source, created_at, revoked_at)"
            " VALUES ('6f1c5a2e00004000800000000000000b', '6f1c5a2e00004000800000000000000a', ?, ?,"
            " 'config', '2026-01-01 00:00:00', NULL)",
            (hash_key(KEY), "app-st…ade1"),
        )
    db.upgrade(url, THIS)
    assert set(NEW_COLUMNS) <= set(columns(path))
    with sqlite3.connect(path) as conn:
        stored = conn.execute(f"SELECT {', '.join(NEW_COLUMNS)} FROM api_keys").fetchall()
    # No label, no expiry, never used, the server's default limits.
    assert stored == [(None, None, None, None, None)]

    command.downgrade(db.alembic_config(url), BEFORE)
    assert not set(NEW_COLUMNS) & set(columns(path))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT key_hash FROM api_keys").fetchall() == [(hash_key(KEY),)]
