"""One runner for every chat turn's lifecycle, whatever produces the answer.

    prepare (services/chat.py)                          subscribers
    ─────────────────────────                           ───────────
    reserve slot, conversation, config, inputs,         HTTP stream (api/sse.py)
    enrichers → typed prompt parts, rows written        blocking waiter
              │                                         text-to-speech speaker
              ▼                                                ▲
    AnswerSource.events()  ──►  TurnRunner.run  ──► Generation.emit
    (model, preset; next:       stop / timeout / failure,
     agent loop)                finishing (output moderation),
                                usage, save once, final event

A source only yields domain events (text deltas, thoughts, files); everything
that must happen exactly once per turn happens here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from difychat.server.domain.events import (
    AnswerReplaced,
    GenerationEvent,
    GenerationFailed,
    MessageEnded,
    TextDelta,
)
from difychat.server.domain.usage import Usage
from difychat.server.errors import AppError
from difychat.server.generation.registry import Generation, event_size
from difychat.server.store import writer
from difychat.server.store.common import utcnow
from difychat.server.store.writer import GroupWriter

logger = logging.getLogger("difychat.chat")

INTERNAL_FAILURE = GenerationFailed(
    "internal_server_error", 500, "Internal Server Error, please contact support."
)


@dataclass(frozen=True, slots=True)
class Timing:
    started: float
    first_token: float | None
    ended: float


class AnswerSource(Protocol):
    """What produces an answer: yields domain events, reports usage when asked."""

    # Extra keys for ``message_end``'s metadata (an annotation reply, say).
    annotation_reply: dict[str, Any] | None

    def events(self) -> AsyncIterator[GenerationEvent]:
        """The answer as it is produced. Closing the iterator must stop the work behind it."""
        ...

    def usage(self, answer: str, *, stopped: bool, timing: Timing) -> Usage:
        """The turn's usage once the answer is complete (or cut short by a stop)."""
        ...


class _RowsGate:
    """Holds a turn's events back until its rows are committed, then lets them through in order.

    The rows' commit runs while the source starts (the model's first token takes longer than a
    commit), so waiting here costs nothing in the usual case, and the source is not paused for it,
    so nothing it has buffered is lost to a connection that breaks meanwhile. Held events count
    like a stream's unread ones: past the generation's ``max_unread_bytes`` (a slow commit under a
    fast model) the runner waits for the commit before it reads the source on.
    """

    def __init__(self, rows: asyncio.Future[None] | None, generation: Generation) -> None:
        self._rows = rows
        self._generation = generation
        self._held: list[GenerationEvent] = []
        self._held_bytes = 0
        self.saved = rows is None
        self.failed = False
        if rows is not None:
            rows.add_done_callback(self._settle)

    def _settle(self, rows: asyncio.Future[None]) -> None:
        if self.saved or self.failed:  # settled already (``settled`` may come first)
            return
        problem = None if rows.cancelled() else rows.exception()
        if rows.cancelled() or problem is not None:
            self.failed = True
            self._held.clear()
            self._held_bytes = 0
            logger.error("saving the turn %s failed", self._generation.task_id, exc_info=problem)
            return
        self.saved = True
        for event in self._held:
            self._generation.emit(event)
        self._held.clear()
        self._held_bytes = 0

    def emit(self, event: GenerationEvent) -> None:
        if self.saved:
            self._generation.emit(event)
        elif not self.failed:
            self._held.append(event)
            self._held_bytes += event_size(event)

    @property
    def full(self) -> bool:
        """Whether the events held wait on more bytes than a stream may leave unread."""
        return self._held_bytes > self._generation.max_unread_bytes

    async def settled(self) -> bool:
        """Wait for the commit (if it is still under way); whether the rows were saved."""
        if self._rows is not None:
            if not self._rows.done():
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._rows)
            # Done, but its callback may not have run yet.
            self._settle(self._rows)
        return self.saved


# A finishing step sees the complete answer and may replace it (output moderation).
Finisher = Callable[[str], str | None]


class TurnRunner:
    def __init__(self, writes: GroupWriter, *, max_seconds: float, checkpoint_seconds: float = 1.0) -> None:
        self._writer = writes
        self._max_seconds = max_seconds
        # The answer so far is saved this often while it streams (through the group writer, never
        # per token), so a crash loses at most about this much of it.
        self._checkpoint_seconds = checkpoint_seconds

    async def run(
        self,
        generation: Generation,
        source: AnswerSource,
        *,
        finishers: tuple[Finisher, ...] = (),
        retriever_resources: tuple[dict[str, Any], ...] | Callable[[], tuple[dict[str, Any], ...]] = (),
        answer_of: Callable[[str], str] | None = None,
        rows: asyncio.Future[None] | None = None,
    ) -> None:
        """Produce, finish, save once, then emit exactly one final event.

        ``answer_of`` makes the answer to save from the text streamed (an agent joins its rounds'
        texts, or keeps only its final answer); by default the answer is the text streamed.
        ``retriever_resources`` may be known only at the end (an agent's retrieval calls).
        ``rows``: the commit of the turn's conversation and message rows, still under way while
        the source starts. Nothing is emitted or saved before it is done; if it fails, the turn
        fails without an answer (there is no row to save one in).
        """
        gate = _RowsGate(rows, generation)
        started = time.perf_counter()
        first_at: float | None = None
        next_checkpoint = started + self._checkpoint_seconds
        # The text so far: recent deltas, and earlier ones joined 256 at a time, so that a long answer
        # costs its characters rather than an object per token.
        parts: list[str] = []
        chunks: list[str] = []
        stopped = False
        failure: GenerationFailed | None = None
        try:
            async with asyncio.timeout(self._max_seconds) as deadline:
                async for event in source.events():
                    if gate.failed:
                        break
                    if type(event) is TextDelta:
                        now = time.perf_counter()
                        if first_at is None:
                            first_at = now
                        parts.append(event.text)
                        if len(parts) >= 256:
                            chunks.append("".join(parts))
                            parts.clear()
                        if now >= next_checkpoint:
                            next_checkpoint = now + self._checkpoint_seconds
                            self._writer.submit(
                                writer.checkpoint_message(
                                    generation.message_id, "".join((*chunks, *parts)), utcnow()
                                )
                            )
                    gate.emit(event)
                    if gate.full and not await gate.settled():
                        break
        except asyncio.CancelledError:
            if not generation.stop_requested:
                generation.emit(INTERNAL_FAILURE)
                raise
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            stopped = True
        except TimeoutError:
            if deadline.expired():
                stopped = True
            else:  # a timeout of the source's own (a statement's, say) is its failure
                logger.exception("generation %s failed", generation.task_id)
                failure = INTERNAL_FAILURE
        except AppError as exc:
            failure = GenerationFailed(exc.code, exc.status, exc.message)
        except Exception:
            logger.exception("generation %s failed", generation.task_id)
            failure = INTERNAL_FAILURE
        generation.stoppable = False
        timing = Timing(started, first_at, time.perf_counter())

        streamed = "".join((*chunks, *parts))
        answer = streamed if answer_of is None else answer_of(streamed)
        usage = source.usage(answer, stopped=stopped, timing=timing)
        if failure is None:
            for finish in finishers:
                replaced = finish(answer)
                if replaced is not None:
                    gate.emit(AnswerReplaced(replaced))
                    answer = replaced
        status = "error" if failure else ("stopped" if stopped else "normal")
        saved = await gate.settled()
        if not saved:
            failure = INTERNAL_FAILURE  # no row to save an answer in
        else:
            try:
                await self._writer.write(
                    writer.finish_message(
                        generation.message_id,
                        answer=answer,
                        status=status,
                        error=failure.message if failure else None,
                        prompt_tokens=usage.prompt_tokens,
                        completion_tokens=usage.completion_tokens,
                        usage=usage.to_wire(),
                        updated_at=utcnow(),
                    )
                )
            except Exception:
                logger.exception("saving the answer of %s failed", generation.message_id)
                failure = INTERNAL_FAILURE
        generation.emit(
            failure
            or MessageEnded(
                answer,
                usage,
                stopped=stopped,
                annotation_reply=source.annotation_reply,
                retriever_resources=retriever_resources()
                if callable(retriever_resources)
                else retriever_resources,
            )
        )
