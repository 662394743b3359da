"""The chat path's group commit (store/writer.py) on real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.store import db, writer
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.schema import app_configs, apps, conversations, messages
from difychat.server.store.writer import GroupWriter
from tests.integration.conftest import RunningServer
from tests.integration.helpers import chat, database

pytestmark = pytest.mark.anyio


async def owner(server: RunningServer, engine: AsyncEngine) -> dict[str, Any]:
    """The ids a new message needs, taken from a conversation made through the API."""
    async with server.client() as client:
        first = await chat(client, "writer")
    async with engine.connect() as conn:
        row = (
            await conn.execute(sa.select(conversations).where(conversations.c.id == first["conversation_id"]))
        ).one()
    return {"app_id": row.app_id, "conversation_id": row.id, "end_user_id": row.end_user_id}


def message(ids: dict[str, Any], query: str, **overrides: Any) -> writer.Write:
    now = utcnow()
    values: dict[str, Any] = {
        "id": new_id(),
        **ids,
        "task_id": new_id(),
        "parent_message_id": None,
        "query": query,
        "inputs": {},
        "answer": "",
        "status": "running",
        "error": None,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "usage": None,
        "retriever_resources": None,
        "created_at": now,
        "updated_at": now,
    }
    values.update(overrides)
    return writer.new_message(**values)


async def queries(engine: AsyncEngine, conversation_id: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(messages.c.query).where(messages.c.conversation_id == conversation_id)
        )
        return sorted(r.query for r in rows)


async def test_concurrent_writes_commit_together_and_a_bad_one_fails_alone(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with database(server) as engine:
        ids = await owner(server, engine)
        group = GroupWriter(engine)
        try:
            good = [group.write(message(ids, f"q{i:02d}")) for i in range(40)]
            bad = group.write(message(ids, "orphan", conversation_id=new_id()))
            with caplog.at_level(logging.WARNING, logger="difychat.store.writer"):
                results = await asyncio.gather(*good, bad, return_exceptions=True)
        finally:
            await group.close()
        assert all(r is None for r in results[:-1]), results
        assert isinstance(results[-1], IntegrityError)
        # Every good write is on disk; the orphan is not, and it did not take the others down with it.
        assert await queries(engine, ids["conversation_id"]) == sorted(
            ["hi"] + [f"q{i:02d}" for i in range(40)]
        )
        # They went in as batches: the failing batch was retried one caller at a time.
        assert any("retrying them one by one" in r.getMessage() for r in caplog.records)


async def test_one_callers_writes_apply_in_order_and_are_readable_when_write_returns(
    server: RunningServer,
) -> None:
    async with database(server) as engine:
        ids = await owner(server, engine)
        group = GroupWriter(engine)
        try:
            conversation_id, now = new_id(), utcnow()
            # Given out of order on purpose: the message before its conversation, the answer first of all.
            draft = message({**ids, "conversation_id": conversation_id}, "fresh")
            message_id = draft.params["id"]
            await group.write(
                writer.finish_message(message_id, answer="done", status="normal", updated_at=now),
                draft,
                writer.new_conversation(
                    id=conversation_id,
                    app_id=ids["app_id"],
                    end_user_id=ids["end_user_id"],
                    app_config_id=await config_id(engine, ids["conversation_id"]),
                    mode="chat",
                    name="n",
                    inputs={},
                    introduction="",
                    status="normal",
                    created_at=now,
                    updated_at=now,
                ),
            )
            async with engine.connect() as conn:
                row = (await conn.execute(sa.select(messages).where(messages.c.id == message_id))).one()
            assert (row.answer, row.status, row.conversation_id) == ("done", "normal", conversation_id)

            await group.write(writer.name_conversation(conversation_id, "A title", utcnow()))
            assert await conversation_name(engine, conversation_id) == "A title"
        finally:
            await group.close()


async def test_close_commits_what_is_queued(server: RunningServer) -> None:
    async with database(server) as engine:
        ids = await owner(server, engine)
        group = GroupWriter(engine)
        pending = [asyncio.ensure_future(group.write(message(ids, f"late{i}"))) for i in range(5)]
        await asyncio.sleep(0)
        await group.close()
        await asyncio.gather(*pending)
        assert await queries(engine, ids["conversation_id"]) == [
            "hi",
            "late0",
            "late1",
            "late2",
            "late3",
            "late4",
        ]


async def conversation_column(engine: AsyncEngine, conversation_id: str, column: str) -> str:
    async with engine.connect() as conn:
        return str(
            (
                await conn.execute(
                    sa.select(conversations.c[column]).where(conversations.c.id == conversation_id)
                )
            ).scalar_one()
        )


async def conversation_name(engine: AsyncEngine, conversation_id: str) -> str:
    return await conversation_column(engine, conversation_id, "name")


async def config_id(engine: AsyncEngine, conversation_id: str) -> str:
    return await conversation_column(engine, conversation_id, "app_config_id")


async def test_a_write_submitted_soon_joins_the_next_commit(server: RunningServer) -> None:
    async with database(server) as engine:
        ids = await owner(server, engine)
        group = GroupWriter(engine)
        try:
            group.submit_soon(writer.name_conversation(ids["conversation_id"], "Rider", utcnow()), within=600)
            await asyncio.sleep(0.05)
            assert await conversation_name(engine, ids["conversation_id"]) != "Rider"  # no commit of its own
            assert group.queued == 1
            # The next write made for anything else (the turn's answer, say) takes it along.
            await group.write(message(ids, "answered"))
            assert await conversation_name(engine, ids["conversation_id"]) == "Rider"
            assert group.queued == 0
        finally:
            await group.close()


async def test_a_write_submitted_soon_is_committed_alone_after_its_delay(server: RunningServer) -> None:
    async with database(server) as engine:
        ids = await owner(server, engine)
        group = GroupWriter(engine)
        try:
            group.submit_soon(
                writer.name_conversation(ids["conversation_id"], "Alone", utcnow()), within=0.05
            )
            for _ in range(500):  # no other write comes: the delay alone commits it
                if await conversation_name(engine, ids["conversation_id"]) == "Alone":
                    break
                await asyncio.sleep(0.01)
            assert await conversation_name(engine, ids["conversation_id"]) == "Alone"
        finally:
            await group.close()


async def test_close_commits_the_writes_submitted_soon(server: RunningServer) -> None:
    async with database(server) as engine:
        ids = await owner(server, engine)
        group = GroupWriter(engine)
        group.submit_soon(writer.name_conversation(ids["conversation_id"], "At close", utcnow()), within=600)
        await group.close()
        assert await conversation_name(engine, ids["conversation_id"]) == "At close"
        group.submit_soon(writer.name_conversation(ids["conversation_id"], "Too late", utcnow()), within=0)
        await asyncio.sleep(0.05)
        assert await conversation_name(engine, ids["conversation_id"]) == "At close"


def test_sqlite_commits_store_what_sqlalchemy_stores(tmp_path: Path) -> None:
    """The writer's plain-sqlite3 commits (statements compiled once, values converted by the
    columns' types) leave every row byte for byte as SQLAlchemy's own execution does."""
    now = utcnow()
    app_id, config_id, user_id, other_user = new_id(), new_id(), new_id(), new_id()
    conversation_id, message_id, second_id = new_id(), new_id(), new_id()
    base = [
        [
            writer.new_end_user(
                id=user_id, app_id=app_id, session_id="s1", is_anonymous=False, created_at=now
            ),
            writer.new_end_user(
                id=other_user, app_id=app_id, session_id="s2", is_anonymous=True, created_at=now
            ),
            writer.new_conversation(
                id=conversation_id, app_id=app_id, app_config_id=config_id, end_user_id=user_id,
                mode="chat", name="New conversation", inputs={"city": "Zürich", "n": 2},
                introduction="", status="normal", created_at=now, updated_at=now,
            ),
        ],
        [message({"app_id": app_id, "conversation_id": conversation_id, "end_user_id": user_id}, "q1",
                 id=message_id, inputs={"k": [1, 2.5, None]})],
        [message({"app_id": app_id, "conversation_id": conversation_id, "end_user_id": user_id}, "q2",
                 id=second_id, created_at=now.replace(microsecond=0))],
        # the same end user again: left as it is
        [writer.new_end_user(id=new_id(), app_id=app_id, session_id="s1", is_anonymous=True, created_at=now)],
        [writer.touch_conversation(conversation_id, now)],
        [writer.cite_message(message_id, [{"position": 1, "content": "a \"quoted\" passage"}])],
        [writer.checkpoint_message(second_id, "partial answer", now)],
        [writer.finish_message(message_id, answer="done ✓", status="normal", error=None, prompt_tokens=3,
                               completion_tokens=4, usage={"total_price": "0.0001"}, updated_at=now)],
        [writer.finish_message(second_id, status="error", error="the model failed", updated_at=now)],
        [writer.name_conversation(conversation_id, "A title", now)],
    ]  # fmt: skip
    tables = ["end_users", "conversations", "messages"]
    stored: list[dict[str, list[tuple[Any, ...]]]] = []
    for name, commit in (("through.db", "sqlalchemy"), ("plain.db", "plain")):
        path = tmp_path / name
        db.upgrade(f"sqlite+aiosqlite:///{path}")
        engine = db.create_sync_engine(f"sqlite:///{path}")
        try:
            with engine.begin() as conn:
                conn.execute(
                    apps.insert().values(
                        id=app_id, name="A", mode="chat", source="config", status="normal",
                        enable_api=True, config_id=config_id, created_at=now, updated_at=now,
                    )
                )  # fmt: skip
                conn.execute(
                    app_configs.insert().values(
                        id=config_id, app_id=app_id, fingerprint="0" * 64, config={}, created_at=now
                    )
                )
            plain = writer.SqliteCommits(engine)
            for writes in base:  # a commit each
                if commit == "plain":
                    plain.commit([writes])
                else:
                    with engine.begin() as conn:
                        writer._apply(conn, [writes])
        finally:
            engine.dispose()
        with sqlite3.connect(path) as raw:
            stored.append(
                {t: raw.execute(f"SELECT * FROM {t} ORDER BY created_at, id").fetchall() for t in tables}
            )
    through, plain_rows = stored
    assert [len(through[t]) for t in tables] == [2, 1, 2]
    for table in tables:
        for expected, found in zip(through[table], plain_rows[table], strict=True):
            assert found == expected, [(a, b) for a, b in zip(expected, found, strict=True) if a != b]


def test_a_failed_plain_sqlite_commit_raises_as_sqlalchemy_does(tmp_path: Path) -> None:
    path = tmp_path / "failed.db"
    db.upgrade(f"sqlite+aiosqlite:///{path}")
    engine = db.create_sync_engine(f"sqlite:///{path}")
    try:
        orphan = message({"app_id": new_id(), "conversation_id": new_id(), "end_user_id": new_id()}, "q")
        with pytest.raises(IntegrityError):
            writer.SqliteCommits(engine).commit([[orphan]])
        with sqlite3.connect(path) as raw:
            assert raw.execute("SELECT count(*) FROM messages").fetchone() == (0,)
    finally:
        engine.dispose()
