"""A stream's queue of unread events: one producer, one reader."""

from __future__ import annotations

import asyncio

import pytest

from difychat.server.generation.event_queue import EventQueue

pytestmark = pytest.mark.anyio


async def test_items_come_out_in_order_and_an_empty_queue_says_so() -> None:
    queue: EventQueue[int] = EventQueue()
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()
    for item in (1, 2, 3):
        queue.put_nowait(item)
    assert len(queue) == 3 and not queue.empty()
    assert [queue.get_nowait(), await queue.get(), await queue.get(0.01)] == [1, 2, 3]
    assert queue.empty()


async def test_a_waiting_reader_wakes_on_the_next_item() -> None:
    queue: EventQueue[str] = EventQueue()
    reader = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert not reader.done()
    queue.put_nowait("a")
    queue.put_nowait("b")
    assert await reader == "a" and queue.get_nowait() == "b"


async def test_a_reader_gives_up_after_its_timeout_and_can_wait_again() -> None:
    queue: EventQueue[str] = EventQueue()
    with pytest.raises(TimeoutError):
        await queue.get(0.01)
    later = asyncio.get_running_loop().call_later(0.01, queue.put_nowait, "late")
    assert await queue.get(5) == "late"
    later.cancel()


async def test_a_cancelled_reader_leaves_the_queue_usable() -> None:
    queue: EventQueue[str] = EventQueue()
    reader = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    queue.put_nowait("x")
    assert await queue.get(1) == "x"


async def test_two_readers_at_once_are_refused() -> None:
    queue: EventQueue[str] = EventQueue()
    first = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await queue.get()
    queue.put_nowait("only")
    assert await first == "only"


async def test_a_long_backlog_read_while_it_grows_keeps_its_order() -> None:
    queue: EventQueue[int] = EventQueue()
    read: list[int] = []
    for n in range(1000):
        queue.put_nowait(n)
        if n % 3 == 0:  # the reader falls behind, then catches up
            read.append(queue.get_nowait())
    while not queue.empty():
        read.append(await queue.get())
    assert read == list(range(1000)) and len(queue) == 0


async def test_a_timeout_counts_from_the_start_of_each_wait_even_with_one_timer_for_all() -> None:
    # Items arriving faster than the timeout never time a wait out, however long they go on;
    # a wait that then finds nothing gives up a whole timeout after it began, not earlier.
    queue: EventQueue[int] = EventQueue()
    loop = asyncio.get_running_loop()

    async def feed() -> None:
        for n in range(30):
            await asyncio.sleep(0.01)
            queue.put_nowait(n)

    feeder = asyncio.ensure_future(feed())
    got = [await queue.get(0.1) for _ in range(30)]
    await feeder
    assert got == list(range(30))
    started = loop.time()
    with pytest.raises(TimeoutError):
        await queue.get(0.1)
    assert 0.09 <= loop.time() - started < 0.5
    # A wait without a timeout is not woken by a timer left from an earlier wait.
    waiting = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0.2)
    assert not waiting.done()
    queue.put_nowait(99)
    assert await waiting == 99


async def test_a_shorter_timeout_after_a_longer_one_is_kept() -> None:
    queue: EventQueue[int] = EventQueue()
    queue.put_nowait(1)
    assert await queue.get(5) == 1
    waiting = asyncio.ensure_future(queue.get(5))
    await asyncio.sleep(0)
    queue.put_nowait(2)
    assert await waiting == 2  # a timer for this 5 s wait is still armed
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        await queue.get(0.05)
    assert loop.time() - started < 1
