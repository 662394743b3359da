"""Group commit: the chat path's writes from many requests share one transaction.

Each chat turn writes a few rows (its conversation, its message, later the answer, a
title; its end user, the first time one is seen). Committing them one transaction each
costs a round of statements per request; under load the writer instead takes every write
queued since its last commit and applies them together: one transaction, one
``executemany`` per kind of statement. A caller's ``write()`` returns once its rows are
committed, so what a response reports is on disk.

The kinds run in a fixed order within a batch (conversations before their messages, a
message before its answer), which is the order any one turn writes them in. A batch
that fails is retried one caller at a time, so one bad write (a message whose
conversation was deleted meanwhile, say) fails only its own caller.

A write that nobody waits for and that may land a moment late (a conversation's title) can
ride along instead (``submit_soon``): it joins the next commit made for any other write, and
is committed on its own only if none comes within its delay. A turn whose title is known
before its answer ends then commits twice, not three times, and its title is on disk when its
``message_end`` is sent.

On SQLite the batch runs in one worker thread on a plain ``sqlite3`` connection (one
thread hop per batch instead of several per statement), each statement compiled once per
set of columns and its values converted by the columns' own types, without SQLAlchemy's
per-execution work (two thirds of a lone commit's CPU otherwise: ``benchmarks/commit_cost.py``);
on PostgreSQL it runs on the async engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.store import db
from difychat.server.store.common import ignoring_conflicts
from difychat.server.store.schema import (
    conversations,
    end_users,
    message_agent_thoughts,
    message_files,
    messages,
    tool_files,
)

logger = logging.getLogger("difychat.store.writer")


class Kind(IntEnum):
    """What a write does; a batch applies the kinds in this order."""

    # An end user seen for the first time (one already there is left as it is).
    NEW_END_USER = 0
    NEW_CONVERSATION = 1
    TOUCH_CONVERSATION = 2
    NEW_MESSAGE = 3
    NEW_TOOL_FILE = 4
    NEW_MESSAGE_FILE = 5
    # An agent round's row, then its later states (after the model, after the tools).
    NEW_AGENT_THOUGHT = 6
    UPDATE_AGENT_THOUGHT = 7
    # An agent's citations, as its retrieval calls end.
    CITE_MESSAGE = 8
    CHECKPOINT_MESSAGE = 9
    FINISH_MESSAGE = 10
    NAME_CONVERSATION = 11


# The columns of an agent round that change after it is created.
THOUGHT_STATE = (
    "thought",
    "tool",
    "tool_labels",
    "tool_input",
    "observation",
    "tool_meta",
    "tool_calls",
    "files",
    "prompt_tokens",
    "completion_tokens",
    "usage",
)

STATEMENTS: dict[Kind, sa.UpdateBase] = {
    Kind.NEW_CONVERSATION: conversations.insert(),
    Kind.TOUCH_CONVERSATION: conversations.update()
    .where(conversations.c.id == sa.bindparam("w_id"))
    .values(updated_at=sa.bindparam("w_updated_at")),
    Kind.NEW_MESSAGE: messages.insert(),
    Kind.NEW_TOOL_FILE: tool_files.insert(),
    Kind.NEW_MESSAGE_FILE: message_files.insert(),
    Kind.NEW_AGENT_THOUGHT: message_agent_thoughts.insert(),
    # Every update sets the same columns (the row's whole state), so they batch.
    Kind.UPDATE_AGENT_THOUGHT: message_agent_thoughts.update()
    .where(message_agent_thoughts.c.id == sa.bindparam("w_id"))
    .values({name: sa.bindparam(f"w_{name}") for name in THOUGHT_STATE}),
    Kind.CITE_MESSAGE: messages.update()
    .where(messages.c.id == sa.bindparam("w_id"))
    .values(retriever_resources=sa.bindparam("w_retriever_resources")),
    # The answer so far of a message still running; a finished one is never overwritten.
    Kind.CHECKPOINT_MESSAGE: messages.update()
    .where(messages.c.id == sa.bindparam("w_id"), messages.c.status == "running")
    .values(answer=sa.bindparam("w_answer"), updated_at=sa.bindparam("w_updated_at")),
    Kind.FINISH_MESSAGE: messages.update().where(messages.c.id == sa.bindparam("w_id")),
    Kind.NAME_CONVERSATION: conversations.update()
    .where(conversations.c.id == sa.bindparam("w_id"))
    .values(name=sa.bindparam("w_name"), updated_at=sa.bindparam("w_updated_at")),
}


# Statements in each dialect's own words: INSERT ... ON CONFLICT DO NOTHING.
DIALECT_STATEMENTS: dict[Kind, dict[str, sa.UpdateBase]] = {
    Kind.NEW_END_USER: {d: ignoring_conflicts(d, end_users) for d in ("sqlite", "postgresql")},
}


def _statement(kind: Kind, dialect: str) -> sa.UpdateBase:
    found = STATEMENTS.get(kind)
    return found if found is not None else DIALECT_STATEMENTS[kind][dialect]


@dataclass(frozen=True, slots=True)
class Write:
    kind: Kind
    params: dict[str, Any]


def new_end_user(**values: Any) -> Write:
    return Write(Kind.NEW_END_USER, values)


def new_conversation(**values: Any) -> Write:
    return Write(Kind.NEW_CONVERSATION, values)


def touch_conversation(conversation_id: str, when: Any) -> Write:
    return Write(Kind.TOUCH_CONVERSATION, {"w_id": conversation_id, "w_updated_at": when})


def new_message(**values: Any) -> Write:
    return Write(Kind.NEW_MESSAGE, values)


def new_message_files(rows: Sequence[dict[str, Any]]) -> list[Write]:
    return [Write(Kind.NEW_MESSAGE_FILE, row) for row in rows]


def new_tool_file(**values: Any) -> Write:
    return Write(Kind.NEW_TOOL_FILE, values)


def new_agent_thought(**values: Any) -> Write:
    return Write(Kind.NEW_AGENT_THOUGHT, values)


def update_agent_thought(thought_id: str, state: dict[str, Any]) -> Write:
    """A round's row as it now is: ``state`` holds every column of ``THOUGHT_STATE``."""
    return Write(
        Kind.UPDATE_AGENT_THOUGHT, {"w_id": thought_id, **{f"w_{k}": state[k] for k in THOUGHT_STATE}}
    )


def cite_message(message_id: str, citations: list[dict[str, Any]]) -> Write:
    return Write(Kind.CITE_MESSAGE, {"w_id": message_id, "w_retriever_resources": citations})


def checkpoint_message(message_id: str, answer: str, when: Any) -> Write:
    return Write(Kind.CHECKPOINT_MESSAGE, {"w_id": message_id, "w_answer": answer, "w_updated_at": when})


def finish_message(message_id: str, **values: Any) -> Write:
    """Set the answer's columns; every finish sets the same columns, so they batch."""
    return Write(Kind.FINISH_MESSAGE, {"w_id": message_id, **values})


def name_conversation(conversation_id: str, name: str, when: Any) -> Write:
    return Write(Kind.NAME_CONVERSATION, {"w_id": conversation_id, "w_name": name, "w_updated_at": when})


# A statement in SQLite's words, and how each of its parameters is read from a write's values:
# by name, converted (or not) by its column's type; or, with no name, a value fixed in the
# statement (``status = 'running'``), converted already.
_Parameter = tuple[str | None, Callable[[Any], Any] | None, Any]
_Plain = tuple[str, list[_Parameter]]


class _SqliteStatements:
    """The writer's statements for a plain ``sqlite3`` cursor: each compiled once per kind and set
    of columns, with the conversion of each value (a UUID, a time, JSON) its column's type does."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._compiled: dict[tuple[Kind, tuple[str, ...]], _Plain] = {}

    def of(self, kind: Kind, keys: tuple[str, ...]) -> _Plain:
        found = self._compiled.get((kind, keys))
        if found is None:
            compiled = _statement(kind, "sqlite").compile(dialect=self._dialect, column_keys=list(keys))
            parameters: list[_Parameter] = []
            for name in compiled.positiontup or ():
                bind = compiled.binds[name]
                convert = bind.type.dialect_impl(self._dialect).bind_processor(self._dialect)
                if name in keys:
                    parameters.append((name, convert, None))
                elif not bind.required:
                    value = bind.effective_value
                    parameters.append((None, None, value if convert is None else convert(value)))
                else:  # a value SQLAlchemy would fill in (a Python-side default): not written here
                    raise RuntimeError(f"{kind.name} has no value for {name}")
            found = self._compiled[(kind, keys)] = (compiled.string, parameters)
        return found


def _by_shape(groups: Sequence[Sequence[Write]]) -> list[tuple[Kind, tuple[str, ...], list[dict[str, Any]]]]:
    """A batch's values, one list per statement to run: by kind, in kind order, and within a kind
    by the columns set (an ``executemany`` needs one shape; two finishes may set different ones)."""
    shapes: dict[tuple[Kind, tuple[str, ...]], list[dict[str, Any]]] = {}
    for writes in groups:
        for write in writes:
            shapes.setdefault((write.kind, tuple(write.params)), []).append(write.params)
    return sorted(((kind, keys, rows) for (kind, keys), rows in shapes.items()), key=lambda shape: shape[0])


def _apply_plain(connection: Any, statements: _SqliteStatements, groups: Sequence[Sequence[Write]]) -> None:
    """``_apply`` on a DB-API ``sqlite3`` connection (its transaction begun by the first write)."""
    cursor = connection.cursor()
    try:
        for kind, keys, values in _by_shape(groups):
            sql, parameters = statements.of(kind, keys)
            rows = [
                tuple(
                    fixed if name is None else row[name] if convert is None else convert(row[name])
                    for name, convert, fixed in parameters
                )
                for row in values
            ]
            try:
                cursor.executemany(sql, rows)
            except sqlite3.Error as exc:  # raised as SQLAlchemy raises it (an IntegrityError, say)
                raise sa.exc.DBAPIError.instance(sql, rows, exc, sqlite3.Error) from exc
    finally:
        cursor.close()


class SqliteCommits:
    """Batches of writes committed on a plain ``sqlite3`` connection from ``engine``'s pool (what
    the writer's thread runs on SQLite)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._statements = _SqliteStatements(engine.dialect)

    def commit(self, groups: Sequence[Sequence[Write]]) -> None:
        connection = self._engine.raw_connection()
        try:
            _apply_plain(connection, self._statements, groups)
            try:
                connection.commit()
            except sqlite3.Error as exc:
                raise sa.exc.DBAPIError.instance("COMMIT", None, exc, sqlite3.Error) from exc
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                connection.rollback()
            raise
        finally:
            connection.close()  # back to the pool


@dataclass(slots=True)
class _Pending:
    writes: Sequence[Write]
    done: asyncio.Future[None]


def _apply(conn: Connection, groups: Sequence[Sequence[Write]]) -> None:
    dialect = conn.dialect.name
    for kind, _keys, rows in _by_shape(groups):
        conn.execute(_statement(kind, dialect), rows)


class GroupWriter:
    """Commits queued writes in batches; see the module docstring."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 512) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: list[_Pending] = []
        # Writes waiting to join the next commit (``submit_soon``), and the timer that commits
        # them alone if no other write comes first.
        self._riders: list[_Pending] = []
        self._riders_due: asyncio.TimerHandle | None = None
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._sync: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._plain: SqliteCommits | None = None
        url = engine.url
        if url.get_backend_name() == "sqlite":
            self._sync = db.create_sync_engine(url.set(drivername="sqlite"))
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="difychat-writer")
            self._plain = SqliteCommits(self._sync)

    @property
    def queued(self) -> int:
        """Writes waiting for a commit to take them (the writer's backlog)."""
        return len(self._queue) + len(self._riders)

    async def write(self, *writes: Write) -> None:
        """Queue ``writes`` (applied in one transaction, in kind order) and wait for their commit."""
        await asyncio.shield(self._enqueue(writes))

    def queue(self, *writes: Write) -> asyncio.Future[None]:
        """Queue ``writes`` now; the future is done once they are committed (await it shielded)."""
        return self._enqueue(writes)

    def submit(self, *writes: Write) -> None:
        """Queue ``writes`` without waiting (a checkpoint): a later ``write`` commits after them.

        A failure is logged; a closed writer drops them."""
        if self._closed:
            return
        self._enqueue(writes).add_done_callback(_log_failure)

    def submit_soon(self, *writes: Write, within: float) -> None:
        """Queue ``writes`` without waiting and without a commit of their own: they join the next
        commit made for other writes, or are committed ``within`` seconds from now if none comes
        first (see the module docstring). A failure is logged; a closed writer drops them."""
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        done.add_done_callback(_log_failure)
        self._riders.append(_Pending(writes, done))
        if len(self._riders) >= self._max_batch:
            self._board_riders()
        elif self._riders_due is None:
            self._riders_due = loop.call_later(within, self._board_riders)

    def _board_riders(self) -> None:
        """Commit the waiting riders now, with whatever else is queued."""
        self._take_riders()  # they go first into the queue
        self._wakeup.set()
        self._start()

    def _take_riders(self) -> None:
        if self._riders_due is not None:
            self._riders_due.cancel()
            self._riders_due = None
        if self._riders:
            self._queue[:0] = self._riders
            self._riders = []

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="difychat-writer")

    def _enqueue(self, writes: Sequence[Write]) -> asyncio.Future[None]:
        if self._closed:
            raise RuntimeError("the writer is closed")
        self._start()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(writes, done))
        self._wakeup.set()
        return done

    async def close(self) -> None:
        """Commit what is queued, then stop; later writes are refused."""
        self._closed = True
        if self._riders:
            self._board_riders()
        if self._task is not None:
            self._wakeup.set()
            await self._task
        if self._thread is not None:
            self._thread.shutdown(wait=True)
        if self._sync is not None:
            self._sync.dispose()

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                await self._flush()
            if self._closed:
                return

    async def _flush(self) -> None:
        self._take_riders()
        batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
        try:
            await self._commit([p.writes for p in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0], exc)
                return
            logger.warning("a batch of %d writes failed; retrying them one by one", len(batch), exc_info=True)
            for pending in batch:
                try:
                    await self._commit([pending.writes])
                except Exception as exc:
                    _settle(pending, exc)
                else:
                    _settle(pending, None)
            return
        for pending in batch:
            _settle(pending, None)

    async def _commit(self, groups: Sequence[Sequence[Write]]) -> None:
        if self._plain is not None and self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._plain.commit, groups)
            return
        async with self._engine.begin() as conn:
            await conn.run_sync(_apply, groups)


def _log_failure(done: asyncio.Future[None]) -> None:
    if not done.cancelled() and done.exception() is not None:
        logger.warning("a queued write failed", exc_info=done.exception())


def _settle(pending: _Pending, exc: BaseException | None) -> None:
    if pending.done.done():
        return
    if exc is None:
        pending.done.set_result(None)
    else:
        pending.done.set_exception(exc)
