"""Undoing migrations on SQLite keeps the rows that refer to a table the downgrade rebuilds.

SQLite changes a table by copying it and dropping the old one; with foreign keys enforced, that
drop deletes every row that refers to the table (``ON DELETE CASCADE``): undoing the worker
leases (which rebuilds ``messages``) would take every feedback with it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from alembic import command

from difychat.server.store import db
from tests.integration.conftest import RunningServer
from tests.integration.helpers import chat

pytestmark = pytest.mark.anyio

BEFORE_LEASES = "0005_scrub_config_secrets"


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_downgrade_that_rebuilds_messages_keeps_their_feedback(
    server: RunningServer, tmp_path: Path
) -> None:
    async with server.client() as client:
        answer = await chat(client, "downgrader", auto_generate_name=False)
        liked = await client.post(
            f"/messages/{answer['message_id']}/feedbacks", json={"rating": "like", "user": "downgrader"}
        )
        assert liked.status_code == 200, liked.text
    # A copy of the server's database (the running server keeps its own).
    live = server.settings.resolved_database_url().split("///", 1)[1]
    copy = tmp_path / "copy.db"
    with sqlite3.connect(live) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    url = f"sqlite+aiosqlite:///{copy}"

    await asyncio.to_thread(command.downgrade, db.alembic_config(url), BEFORE_LEASES)
    with sqlite3.connect(copy) as conn:
        assert "worker_id" not in columns(conn, "messages") and "rpm" not in columns(conn, "api_keys")
        assert conn.execute("SELECT answer FROM messages").fetchall() == [(answer["answer"],)]
        assert conn.execute("SELECT rating FROM message_feedbacks").fetchall() == [("like",)]
        assert conn.execute("SELECT count(*) FROM api_keys").fetchone()[0] > 0
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []

    # And back up again, the rows still there.
    await asyncio.to_thread(db.upgrade, url)
    with sqlite3.connect(copy) as conn:
        assert "worker_id" in columns(conn, "messages")
        assert conn.execute("SELECT rating FROM message_feedbacks").fetchall() == [("like",)]
