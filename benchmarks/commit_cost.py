"""What the chat path's group commits cost on SQLite, measured in-process.

    python -m benchmarks.commit_cost [--turns 2000] [--seed 20000]

A fresh database (the real migrations) is seeded with ``--seed`` conversations of one message each,
then copied three times. On each copy ``--turns`` turns are committed one by one, as on an idle
server: a new conversation's rows, then the answer finished and the conversation named, in a commit
each. First through SQLAlchemy (``Connection.execute``, every statement recorded as SQLite received
it), then as the group writer commits on SQLite (``store/writer.SqliteCommits``: statements compiled
once, a plain ``sqlite3`` connection), then the recorded statements replayed with ``sqlite3`` alone.
Prints the CPU (thread time) of each commit, and of the replay's ``COMMIT`` (the write-ahead log
write) on its own.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from difychat.server.store import db, writer
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.schema import app_configs, apps, end_users

# One commit as SQLite received it: (statement, parameters, many) for each statement.
Recorded = list[tuple[str, Any, bool]]


def _base_rows(engine: sa.Engine) -> tuple[str, str, str]:
    app_id, config_id, user_id = new_id(), new_id(), new_id()
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            apps.insert().values(
                id=app_id, name="Bench", mode="chat", source="config", status="normal",
                enable_api=True, config_id=config_id, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        conn.execute(
            app_configs.insert().values(
                id=config_id, app_id=app_id, fingerprint="0" * 64, config={}, created_at=now
            )
        )
        conn.execute(
            end_users.insert().values(
                id=user_id, app_id=app_id, session_id="bench", is_anonymous=False, created_at=now
            )
        )
    return app_id, config_id, user_id


class Turns:
    """The writes of the chat path for new conversations of one end user."""

    def __init__(self, app_id: str, config_id: str, user_id: str) -> None:
        self.app_id, self.config_id, self.user_id = app_id, config_id, user_id

    def start(self) -> tuple[str, str, list[writer.Write]]:
        now = utcnow()
        conversation_id, message_id = new_id(), new_id()
        rows = [
            writer.new_conversation(
                id=conversation_id, app_id=self.app_id, app_config_id=self.config_id,
                end_user_id=self.user_id, mode="chat", name="New conversation", inputs={},
                introduction="", status="normal", created_at=now, updated_at=now,
            ),
            writer.new_message(
                id=message_id, app_id=self.app_id, conversation_id=conversation_id,
                end_user_id=self.user_id, task_id=new_id(), parent_message_id=None, query="hi",
                inputs={}, answer="", status="running", error=None, prompt_tokens=0,
                completion_tokens=0, usage=None, retriever_resources=None, created_at=now,
                updated_at=now, worker_id=None,
            ),
        ]  # fmt: skip
        return conversation_id, message_id, rows

    def finish(self, conversation_id: str, message_id: str) -> list[list[writer.Write]]:
        now = utcnow()
        answer = writer.finish_message(
            message_id, answer="Hello! How can I help you today?", status="normal", error=None,
            prompt_tokens=12, completion_tokens=8, usage={"total_tokens": 20}, updated_at=now,
        )  # fmt: skip
        return [[answer], [writer.name_conversation(conversation_id, "A short title", now)]]


def _seed(engine: sa.Engine, turns: Turns, count: int) -> None:
    for start in range(0, count, 500):
        groups: list[Sequence[writer.Write]] = []
        for _ in range(min(500, count - start)):
            conversation_id, message_id, rows = turns.start()
            groups += [rows, *turns.finish(conversation_id, message_id)]
        with engine.begin() as conn:
            writer._apply(conn, groups)


def _cpu_us(values: Sequence[float]) -> str:
    ordered = sorted(values)
    return (
        f"p50 {ordered[len(ordered) // 2] * 1e6:6.0f} µs   mean {sum(ordered) / len(ordered) * 1e6:6.0f} µs"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        seeded, through, grouped, alone = (
            Path(work) / name for name in ("seeded.db", "through.db", "grouped.db", "alone.db")
        )
        db.upgrade(f"sqlite+aiosqlite:///{seeded}")
        engine = db.create_sync_engine(f"sqlite:///{seeded}")
        turns = Turns(*_base_rows(engine))
        _seed(engine, turns, args.seed)
        engine.dispose()
        for copy in (through, grouped, alone):
            shutil.copy(seeded, copy)

        # Through the group writer's code, each statement recorded as SQLite receives it.
        engine = db.create_sync_engine(f"sqlite:///{through}")
        recording: Recorded = []
        sa.event.listen(
            engine,
            "before_cursor_execute",
            lambda _conn, _cursor, statement, parameters, _context, many: recording.append(
                (statement, parameters, many)
            ),
        )
        commits: list[Recorded] = []
        cpu: dict[str, list[float]] = {"start": [], "finish": []}
        planned: list[tuple[str, list[Sequence[writer.Write]]]] = []
        for _ in range(args.turns):
            conversation_id, message_id, rows = turns.start()
            planned += [("start", [rows]), ("finish", list(turns.finish(conversation_id, message_id)))]
        for kind, groups in planned:
            recording.clear()
            started = time.thread_time()
            with engine.begin() as conn:
                writer._apply(conn, groups)
            cpu[kind].append(time.thread_time() - started)
            commits.append(list(recording))
        engine.dispose()

        # As the group writer commits on SQLite.
        engine = db.create_sync_engine(f"sqlite:///{grouped}")
        commit = writer.SqliteCommits(engine)
        lean: dict[str, list[float]] = {"start": [], "finish": []}
        for kind, groups in planned:
            started = time.thread_time()
            commit.commit(groups)
            lean[kind].append(time.thread_time() - started)
        engine.dispose()

        # The same statements and parameters with sqlite3 alone.
        plain = sqlite3.connect(alone, isolation_level=None)
        plain.execute("PRAGMA journal_mode=WAL")
        plain.execute("PRAGMA synchronous=NORMAL")
        plain.execute("PRAGMA foreign_keys=ON")
        raw: dict[str, list[float]] = {"start": [], "finish": []}
        commit_only: list[float] = []
        for index, recorded in enumerate(commits):
            started = time.thread_time()
            plain.execute("BEGIN")
            for statement, parameters, many in recorded:
                run: Callable[..., Any] = plain.executemany if many else plain.execute
                run(statement, parameters)
            before_commit = time.thread_time()
            plain.execute("COMMIT")
            ended = time.thread_time()
            raw["start" if index % 2 == 0 else "finish"].append(ended - started)
            commit_only.append(ended - before_commit)
        plain.close()

    print(f"{args.turns} turns, one commit each for a new conversation's rows, then for its answer and title")
    print(f"(database seeded with {args.seed} conversations of one message; CPU is thread time)")
    for kind, label in (("start", "conversation + message"), ("finish", "answer + title")):
        print(f"  {label}")
        print(f"    through SQLAlchemy  {_cpu_us(cpu[kind])}")
        print(f"    the group writer    {_cpu_us(lean[kind])}")
        print(f"    sqlite3 alone       {_cpu_us(raw[kind])}")
    print(f"  COMMIT alone          {_cpu_us(commit_only)}")


if __name__ == "__main__":
    main()
