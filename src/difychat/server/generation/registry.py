"""Generations run as tasks owned by the registry, not by the HTTP request.

A request subscribes to its generation's events; if the client goes away the
generation still finishes and saves its answer. A stop cancels the task, whose
runner then saves the partial answer and emits the final event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from difychat.server.domain.events import (
    AnswerReplaced,
    GenerationEvent,
    GenerationFailed,
    MessageEnded,
    SpeechChunk,
    TextDelta,
)
from difychat.server.generation.event_queue import EventQueue

logger = logging.getLogger("difychat.generation")


# Put in a subscriber's queue after the last event: the stream is over.
END_OF_STREAM = None
# What a stream subscriber may leave unread before it is detached (see ``Generation.emit``).
DEFAULT_MAX_UNREAD_BYTES = 256 * 1024
# The framing and ids around each event, roughly: what one queued event costs besides its payload.
EVENT_OVERHEAD = 256


def event_size(event: GenerationEvent | None) -> int:
    """About how many bytes ``event`` takes once framed for the wire."""
    if isinstance(event, TextDelta):
        return EVENT_OVERHEAD + 3 * len(event.text)
    if isinstance(event, SpeechChunk):
        return EVENT_OVERHEAD + len(event.audio)
    if isinstance(event, AnswerReplaced | MessageEnded):
        return 4 * EVENT_OVERHEAD + 3 * len(event.answer)
    return 2 * EVENT_OVERHEAD


@dataclass(eq=False)
class Generation:
    """A running answer: its ids, its event queue, its subscribers and its stop flag.

    The final event (``message_end`` or ``error``) is what a blocking request waits for. The
    stream ends later, once every subscriber that adds events of its own (text-to-speech) has
    released its hold: the HTTP stream reads until ``END_OF_STREAM`` and needs no other rule.

    The HTTP stream's queue is bounded in bytes: a reader that leaves more than
    ``max_unread_bytes`` unread (a stalled client) is detached, its queue dropped, so a
    stalled stream holds at most that much whatever the answer's length. The generation
    itself goes on and is saved; a blocking waiter has no queue at all.
    """

    task_id: str
    message_id: str
    conversation_id: str
    app_id: str
    end_user_id: str
    created_at: datetime
    queue: EventQueue[GenerationEvent | None] | None = field(default_factory=EventQueue)
    max_unread_bytes: int = DEFAULT_MAX_UNREAD_BYTES
    unread_bytes: int = 0
    # True once the stream's reader fell too far behind and was detached.
    lagged: bool = False
    final: GenerationEvent | None = None
    _final_waiter: asyncio.Future[GenerationEvent] | None = field(default=None, repr=False)
    _subscribers: list[Callable[[GenerationEvent], None]] = field(default_factory=list, repr=False)
    _holds: int = 0
    closed: bool = False
    stop_requested: bool = False
    # Cleared by the runner once the answer is complete, so a late stop cannot interrupt saving it.
    stoppable: bool = True
    task: asyncio.Task[None] | None = None

    def emit(self, event: GenerationEvent) -> None:
        if self.closed:
            return
        if isinstance(event, MessageEnded | GenerationFailed):
            self.final = event
            if self._final_waiter is not None and not self._final_waiter.done():
                self._final_waiter.set_result(event)
        if self.queue is not None:
            self._enqueue(event)
        for subscriber in self._subscribers:
            subscriber(event)
        self._close_when_done()

    def subscribe(self, subscriber: Callable[[GenerationEvent], None], *, holds: bool = False) -> None:
        """Call ``subscriber`` with every event from now on; with ``holds``, keep the stream open
        after the final event until ``release()`` (for a subscriber that emits events of its own)."""
        self._subscribers.append(subscriber)
        if holds:
            self._holds += 1

    def release(self) -> None:
        self._holds -= 1
        self._close_when_done()

    def _close_when_done(self) -> None:
        if self.final is not None and self._holds <= 0 and not self.closed:
            self.closed = True
            if self.queue is not None:
                self.queue.put_nowait(END_OF_STREAM)

    def _enqueue(self, event: GenerationEvent) -> None:
        assert self.queue is not None
        self.unread_bytes += event_size(event)
        if self.unread_bytes > self.max_unread_bytes:
            self.lagged = True
            self.detach()
            return
        self.queue.put_nowait(event)

    def has_next(self) -> bool:
        """Whether ``take_nowait`` has something to give (an event, or the end once detached)."""
        queue = self.queue
        return queue is None or not queue.empty()

    def take_nowait(self) -> GenerationEvent | None:
        """The stream reader's next event (``END_OF_STREAM`` when detached); ``QueueEmpty`` if none yet."""
        if self.queue is None:
            return END_OF_STREAM
        event = self.queue.get_nowait()
        self.unread_bytes -= event_size(event)
        return event

    async def take(self, timeout: float | None = None) -> GenerationEvent | None:
        """Wait for the stream reader's next event (``END_OF_STREAM`` when detached);
        ``TimeoutError`` after ``timeout`` seconds without one."""
        queue = self.queue
        if queue is None:
            return END_OF_STREAM
        event = await queue.get(timeout)
        self.unread_bytes -= event_size(event)
        return event

    @property
    def finished(self) -> bool:
        return self.final is not None

    async def ended(self) -> GenerationEvent:
        """The final event (message_end or error): all a blocking request waits for."""
        if self.final is not None:
            return self.final
        if self._final_waiter is None:
            self._final_waiter = asyncio.get_running_loop().create_future()
        return await asyncio.shield(self._final_waiter)

    def detach(self) -> None:
        """The stream's reader left (or fell too far behind): drop its queue and further events."""
        queue, self.queue = self.queue, None
        self.unread_bytes = 0
        if queue is not None:
            queue.put_nowait(END_OF_STREAM)  # a reader waiting on it ends now, not at its next ping
            queue.close()

    def request_stop(self) -> bool:
        if not self.stoppable or self.finished or self.stop_requested or self.task is None:
            return False
        self.stop_requested = True
        self.task.cancel()
        return True


class GenerationObserver(Protocol):
    def started(self, generation: Generation) -> None: ...

    def finished(self, generation: Generation) -> None: ...


class GenerationRegistry:
    """The process-wide table of running generations and background jobs."""

    def __init__(self) -> None:
        self._running: dict[str, Generation] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._listeners: list[Callable[[int], None]] = []
        self._observers: list[GenerationObserver] = []
        self._backlogs: list[Callable[[], list[str]]] = []

    def __len__(self) -> int:
        return len(self._running)

    def get(self, task_id: str) -> Generation | None:
        return self._running.get(task_id)

    def on_change(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(count)`` whenever the number of running generations changes."""
        self._listeners.append(listener)

    def observe(self, observer: GenerationObserver) -> None:
        """Tell ``observer`` when each generation starts (before its task exists, so the task
        inherits the context it sets) and when its task is done (metrics, log context)."""
        self._observers.append(observer)

    def start(self, generation: Generation, runner: Coroutine[Any, Any, None]) -> None:
        """Run ``runner`` for ``generation`` (its admission slots are given back when the task is done)."""
        self._running[generation.task_id] = generation
        for observer in self._observers:
            observer.started(generation)
        generation.task = asyncio.get_running_loop().create_task(
            runner, name=f"generation-{generation.task_id}"
        )
        generation.task.add_done_callback(lambda task: self._finished(generation, task))
        self._notify()

    def _finished(self, generation: Generation, task: asyncio.Task[None]) -> None:
        self._running.pop(generation.task_id, None)
        if not task.cancelled() and task.exception() is not None:
            logger.error("generation %s crashed", generation.task_id, exc_info=task.exception())
        for observer in self._observers:
            observer.finished(generation)
        self._notify()

    def _notify(self) -> None:
        for listener in self._listeners:
            listener(len(self._running))

    def stop(self, task_id: str) -> bool:
        generation = self._running.get(task_id)
        return generation.request_stop() if generation is not None else False

    def background_jobs(self) -> list[str]:
        """The names of the background jobs not finished yet, and of those still queued."""
        names = [task.get_name() for task in self._background]
        for backlog in self._backlogs:
            names.extend(backlog())
        return names

    def add_backlog(self, backlog: Callable[[], list[str]]) -> None:
        """``backlog()`` names jobs queued before they run (``background_jobs`` counts them too)."""
        self._backlogs.append(backlog)

    def spawn(self, job: Awaitable[Any], name: str) -> None:
        """Run a background job (a conversation title, say) that must not be lost or block anyone."""

        async def wrapper() -> None:
            try:
                await job
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("background job %s failed", name)

        task = asyncio.get_running_loop().create_task(wrapper(), name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self, timeout: float) -> None:
        """At shutdown: stop running generations (their partial answers are saved) and wait a little."""
        for generation in list(self._running.values()):
            generation.request_stop()
        pending = [g.task for g in self._running.values() if g.task is not None] + list(self._background)
        if pending:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await asyncio.gather(*pending, return_exceptions=True)
