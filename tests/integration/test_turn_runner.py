"""The turn runner with answer sources other than the model: the lifecycle happens once, for any source."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.events import (
    AnswerReplaced,
    FileProduced,
    GenerationEvent,
    GenerationFailed,
    MessageEnded,
    TextDelta,
    ThoughtUpdated,
)
from difychat.server.domain.usage import Usage
from difychat.server.errors import ProviderError
from difychat.server.generation.registry import Generation, GenerationRegistry, event_size
from difychat.server.services.turn_runner import Finisher, Timing, TurnRunner
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.schema import messages
from difychat.server.store.writer import GroupWriter
from tests.integration.conftest import RunningServer
from tests.integration.helpers import database
from tests.integration.test_group_writer import message, owner

pytestmark = pytest.mark.anyio


class ScriptedSource:
    """An answer source that plays a script: events, pauses (seconds; None waits forever), or an exception."""

    annotation_reply: dict[str, Any] | None = None

    def __init__(self, *script: GenerationEvent | BaseException | float | None) -> None:
        self._script = script
        self.closed = False

    async def events(self) -> AsyncIterator[GenerationEvent]:
        try:
            for step in self._script:
                if step is None:
                    await asyncio.Event().wait()
                elif isinstance(step, float):
                    await asyncio.sleep(step)
                elif isinstance(step, BaseException):
                    raise step
                else:
                    yield step
        finally:
            self.closed = True

    def usage(self, answer: str, *, stopped: bool, timing: Timing) -> Usage:
        return Usage(prompt_tokens=7, completion_tokens=len(answer), latency=timing.ended - timing.started)


def watched(message_id: str, ids: dict[str, Any]) -> tuple[Generation, list[GenerationEvent]]:
    """A generation of the message ``message_id`` (no stream queue) and the list its events go to."""
    generation = Generation(
        task_id=new_id(),
        message_id=message_id,
        conversation_id=str(ids["conversation_id"]),
        app_id="a",
        end_user_id=str(ids["end_user_id"]),
        created_at=utcnow(),
        queue=None,
    )
    seen: list[GenerationEvent] = []
    generation.subscribe(seen.append)
    return generation, seen


async def run(
    server: RunningServer,
    engine: AsyncEngine,
    source: ScriptedSource,
    *,
    stop_after: float | None = None,
    while_running: Callable[[str], Awaitable[None]] | None = None,
    finishers: tuple[Finisher, ...] = (),
) -> tuple[list[GenerationEvent], Any, float]:
    ids = await owner(server, engine)
    writes = GroupWriter(engine)
    message_id = new_id()
    await writes.write(message({k: str(v) for k, v in ids.items()}, "q", id=message_id))
    generation, seen = watched(message_id, ids)
    registry = GenerationRegistry()
    registry.start(
        generation, TurnRunner(writes, max_seconds=30).run(generation, source, finishers=finishers)
    )
    stop_to_end = 0.0
    if stop_after is not None:
        await asyncio.sleep(stop_after)
        if while_running is not None:
            await while_running(message_id)
        asked = time.perf_counter()
        assert generation.request_stop()
        await generation.ended()
        stop_to_end = time.perf_counter() - asked
    await generation.ended()
    assert generation.task is not None
    await generation.task
    await writes.close()
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(messages).where(messages.c.id == message_id))).one()
    return seen, row, stop_to_end


THOUGHT = ThoughtUpdated(id="th", position=1, tool="calculator", tool_input='{"x": 1}')
PICTURE = FileProduced(id="f", type="image", url="/files/tools/f.png")


async def test_every_event_of_a_source_is_published_in_order_then_one_final_event(
    server: RunningServer,
) -> None:
    async with database(server) as engine:
        seen, row, _ = await run(
            server, engine, ScriptedSource(THOUGHT, TextDelta("a"), PICTURE, TextDelta("b"))
        )
    assert seen[:4] == [THOUGHT, TextDelta("a"), PICTURE, TextDelta("b")]
    (ended,) = seen[4:]
    assert isinstance(ended, MessageEnded) and ended.answer == "ab" and not ended.stopped
    assert (row.answer, row.status, row.prompt_tokens, row.completion_tokens) == ("ab", "normal", 7, 2)


async def test_a_stop_mid_source_closes_it_saves_the_partial_answer_and_ends_at_once(
    server: RunningServer,
) -> None:
    source = ScriptedSource(THOUGHT, TextDelta("par"), None)
    async with database(server) as engine:
        seen, row, stop_to_end = await run(server, engine, source, stop_after=0.2)
    ended = seen[-1]
    assert isinstance(ended, MessageEnded) and ended.stopped and ended.answer == "par"
    assert (row.answer, row.status) == ("par", "stopped") and source.closed
    assert stop_to_end < 1.0


async def test_a_failing_source_saves_what_it_said_and_ends_with_the_error(server: RunningServer) -> None:
    async with database(server) as engine:
        seen, row, _ = await run(
            server,
            engine,
            ScriptedSource(TextDelta("x"), ProviderError("[openai] Error: cut")),
            finishers=(lambda answer: "replaced",),
        )
    assert isinstance(seen[-1], GenerationFailed) and seen[-1].code == "completion_request_error"
    # A failed answer is not finished (no replacement) and is stored as an error with its text so far.
    assert not any(isinstance(event, AnswerReplaced) for event in seen)
    assert (row.answer, row.status, row.error) == ("x", "error", "[openai] Error: cut")


async def test_finishing_steps_replace_the_answer_before_it_is_saved(server: RunningServer) -> None:
    async with database(server) as engine:
        seen, row, _ = await run(
            server,
            engine,
            ScriptedSource(TextDelta("secret plan")),
            finishers=(lambda answer: None, lambda answer: "[removed]" if "secret" in answer else None),
        )
    assert seen[-2:-1] == [AnswerReplaced("[removed]")]
    ended = seen[-1]
    assert isinstance(ended, MessageEnded) and ended.answer == "[removed]"
    assert row.answer == "[removed]"


async def test_a_long_answer_is_checkpointed_while_it_streams(server: RunningServer) -> None:
    seen_while_running: list[tuple[str, str]] = []
    async with database(server) as engine:

        async def look(message_id: str) -> None:
            async with engine.connect() as conn:
                row = (await conn.execute(sa.select(messages).where(messages.c.id == message_id))).one()
            seen_while_running.append((row.answer, row.status))

        source = ScriptedSource(TextDelta("first "), 1.2, TextDelta("second"), None)
        _, row, _ = await run(server, engine, source, stop_after=1.6, while_running=look)
    # A second after the start, the text so far reached the database, before the answer ended.
    assert seen_while_running == [("first second", "running")]
    assert (row.answer, row.status) == ("first second", "stopped")


async def run_with_rows_pending(
    server: RunningServer,
    engine: AsyncEngine,
    source: ScriptedSource,
    while_held: Callable[[Generation, list[GenerationEvent]], Awaitable[None]],
) -> tuple[list[GenerationEvent], GenerationEvent, Any]:
    """A turn whose rows are still being committed: ``while_held`` looks at it meanwhile, then the
    rows are saved. The events seen, the final one, and the message's row."""
    ids = await owner(server, engine)
    writes = GroupWriter(engine)
    message_id = new_id()
    generation, seen = watched(message_id, ids)
    rows: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    GenerationRegistry().start(
        generation, TurnRunner(writes, max_seconds=30).run(generation, source, rows=rows)
    )
    await while_held(generation, seen)
    await writes.write(message({k: str(v) for k, v in ids.items()}, "q", id=message_id))
    rows.set_result(None)
    ended = await generation.ended()
    await writes.close()
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(messages).where(messages.c.id == message_id))).one()
    return seen, ended, row


async def test_events_wait_for_the_turns_rows_and_then_arrive_in_order(server: RunningServer) -> None:
    async def held(generation: Generation, seen: list[GenerationEvent]) -> None:
        await asyncio.sleep(0.1)
        assert seen == []  # the source has produced two deltas: held until the rows are saved

    source = ScriptedSource(TextDelta("a"), TextDelta("b"), 0.2, TextDelta("c"))
    async with database(server) as engine:
        seen, ended, row = await run_with_rows_pending(server, engine, source, held)
    assert [e.text for e in seen if isinstance(e, TextDelta)] == ["a", "b", "c"]
    assert isinstance(ended, MessageEnded) and seen[-1] is ended
    assert row.answer == "abc" and row.status == "normal"


async def test_a_turn_whose_rows_cannot_be_saved_fails_without_showing_its_answer(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with database(server) as engine:
        writes = GroupWriter(engine)
        # A message of a conversation that does not exist: its insert fails.
        ids = {"app_id": "a", "conversation_id": new_id(), "end_user_id": new_id()}
        generation, seen = watched(new_id(), ids)
        orphan = message(ids, "q")
        rows = writes.queue(orphan)
        source = ScriptedSource(TextDelta("never"), 0.05, TextDelta("shown"))
        GenerationRegistry().start(
            generation, TurnRunner(writes, max_seconds=30).run(generation, source, rows=rows)
        )
        ended = await generation.ended()
        await writes.close()
    assert seen == [ended] and isinstance(ended, GenerationFailed) and ended.status == 500
    assert "saving the turn" in caplog.text


class CountingSource(ScriptedSource):
    """Yields ``n`` deltas of ``size`` characters at once, counting what it has produced."""

    def __init__(self, n: int, size: int) -> None:
        super().__init__()
        self.n, self.size, self.produced = n, size, 0

    async def events(self) -> AsyncIterator[GenerationEvent]:
        for i in range(self.n):
            self.produced += 1
            yield TextDelta(chr(ord("a") + i % 26) * self.size)


async def test_a_slow_commit_pauses_the_source_once_a_streams_worth_of_events_is_held(
    server: RunningServer,
) -> None:
    # 2 MiB of answer, far more than a stream may leave unread (256 KiB).
    source = CountingSource(2048, 1024)

    async def held(generation: Generation, seen: list[GenerationEvent]) -> None:
        await asyncio.sleep(0.2)
        assert seen == []
        # The source was read until the held events passed the bound, then left waiting.
        fits = generation.max_unread_bytes // event_size(TextDelta("x" * 1024))
        assert fits <= source.produced <= fits + 2

    async with database(server) as engine:
        seen, ended, row = await run_with_rows_pending(server, engine, source, held)
    texts = [e.text for e in seen if isinstance(e, TextDelta)]
    assert len(texts) == 2048 and texts[0] == "a" * 1024 and texts[26] == "a" * 1024
    assert isinstance(ended, MessageEnded) and len(row.answer) == 2048 * 1024 and row.status == "normal"


async def test_a_timeout_inside_the_source_fails_the_turn_rather_than_stopping_it(
    server: RunningServer,
) -> None:
    # A statement timing out in a source (a stuck database under a retrieval, say) is not the
    # turn's own deadline: the turn fails, it is not reported as stopped.
    async with database(server) as engine:
        seen, row, _ = await run(server, engine, ScriptedSource(TextDelta("x"), TimeoutError()))
    assert isinstance(seen[-1], GenerationFailed) and seen[-1].status == 500
    assert (row.answer, row.status) == ("x", "error")
