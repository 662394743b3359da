"""The events a stream's one reader has not read yet.

``asyncio.Queue`` would do, but it keeps three deques, a lock-free getter/putter protocol and an
unfinished-task counter for any number of producers and consumers. A generation has exactly
one producer (its runner) and one reader (its HTTP stream), and thousands of streams can be
open at once: this holds one list (a deque starts at a block of 64 slots) and, while the
reader waits, one future.

A wait's timeout (the stream's ping interval) is one timer per queue that is moved on lazily:
a wait that ends before it fires leaves it armed, and when it fires it only looks at the wait
under way then (waking it, or re-arming for that wait's own deadline). A stream whose events
come every few milliseconds arms one timer per interval, not one per event.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")

# A timer may fire this early (the event loop's clock resolution): that counts as on time.
_EARLY = 0.001


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class EventQueue(Generic[T]):
    __slots__ = ("_deadline", "_head", "_items", "_timer", "_waiter")

    def __init__(self) -> None:
        # Items from ``_head`` on are unread; the read ones are dropped in bulk (``_pop``).
        self._items: list[T] = []
        self._head = 0
        self._waiter: asyncio.Future[None] | None = None
        # The wait under way gives up at ``_deadline`` (loop time; None: it waits for ever);
        # ``_timer`` fires at or before it.
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._items) - self._head

    def empty(self) -> bool:
        return self._head == len(self._items)

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        if self._waiter is not None:
            _wake(self._waiter)

    def get_nowait(self) -> T:
        """The oldest item; ``asyncio.QueueEmpty`` if there is none."""
        if self.empty():
            raise asyncio.QueueEmpty
        return self._pop()

    async def get(self, timeout: float | None = None) -> T:
        """The oldest item, once there is one; ``TimeoutError`` after ``timeout`` seconds without.

        One reader at a time: a second concurrent ``get`` is a programming error.
        """
        if self.empty():
            if self._waiter is not None:
                raise RuntimeError("an EventQueue has one reader")
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            if timeout is None:
                self._deadline = None
            else:
                self._deadline = deadline = loop.time() + timeout
                # A timer armed for an earlier wait is kept if it fires no later than this deadline
                # (with one timeout for every wait, as a stream's, it always does).
                timer = self._timer
                if timer is not None and timer.when() > deadline:
                    timer.cancel()
                    timer = None
                if timer is None:
                    self._timer = loop.call_at(deadline, self._on_timer)
            try:
                await waiter
            finally:
                self._waiter = None
            if self.empty():
                raise TimeoutError
        return self._pop()

    def close(self) -> None:
        """Disarm the timer (the reader is gone)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        waiter, deadline = self._waiter, self._deadline
        if waiter is None or deadline is None:
            return  # no wait under way, or one without a timeout
        loop = asyncio.get_running_loop()
        if loop.time() >= deadline - _EARLY:
            _wake(waiter)
        else:
            self._timer = loop.call_at(deadline, self._on_timer)

    def _pop(self) -> T:
        items = self._items
        item = items[self._head]
        self._head += 1
        if self._head == len(items):
            items.clear()
            self._head = 0
        elif self._head >= 64 and 2 * self._head >= len(items):
            del items[: self._head]
            self._head = 0
        return item
