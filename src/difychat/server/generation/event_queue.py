"""The events a stream's one reader has not read yet.

``asyncio.Queue`` would do, but it keeps three deques, a lock-free getter/putter protocol and an
unfinished-task counter for any number of producers and consumers. A generation has exactly
one producer (its runner) and one reader (its HTTP stream), and thousands of streams can be
open at once: this holds one deque and, while the reader waits, one future.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class EventQueue(Generic[T]):
    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        if self._waiter is not None:
            _wake(self._waiter)

    def get_nowait(self) -> T:
        """The oldest item; ``asyncio.QueueEmpty`` if there is none."""
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.popleft()

    async def get(self, timeout: float | None = None) -> T:
        """The oldest item, once there is one; ``TimeoutError`` after ``timeout`` seconds without.

        One reader at a time: a second concurrent ``get`` is a programming error.
        """
        if not self._items:
            if self._waiter is not None:
                raise RuntimeError("an EventQueue has one reader")
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(timeout, _wake, waiter) if timeout is not None else None
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
            if not self._items:
                raise TimeoutError
        return self._items.popleft()
