"""A generation's subscribers, holds and end of stream."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from difychat.server.domain.events import (
    GenerationEvent,
    GenerationFailed,
    MessageEnded,
    SpeechChunk,
    TextDelta,
)
from difychat.server.domain.usage import Usage
from difychat.server.generation.event_queue import EventQueue
from difychat.server.generation.registry import END_OF_STREAM, Generation

pytestmark = pytest.mark.anyio


def make(queue: bool = True) -> Generation:
    return Generation(
        task_id="t",
        message_id="m",
        conversation_id="c",
        app_id="a",
        end_user_id="u",
        created_at=datetime(2025, 1, 1),
        queue=EventQueue() if queue else None,
    )


def drain(generation: Generation) -> list[GenerationEvent | None]:
    assert generation.queue is not None
    out: list[GenerationEvent | None] = []
    while not generation.queue.empty():
        out.append(generation.queue.get_nowait())
    return out


async def test_the_stream_ends_right_after_the_final_event_when_nothing_holds_it() -> None:
    generation = make()
    seen: list[GenerationEvent] = []
    generation.subscribe(seen.append)
    ended = MessageEnded("hi", Usage())
    generation.emit(TextDelta("hi"))
    generation.emit(ended)
    assert drain(generation) == [TextDelta("hi"), ended, END_OF_STREAM]
    assert seen == [TextDelta("hi"), ended]
    assert generation.closed and await generation.ended() is ended


async def test_a_holding_subscriber_keeps_the_stream_open_for_its_own_events() -> None:
    generation = make()
    generation.subscribe(lambda event: None, holds=True)
    generation.emit(MessageEnded("hi", Usage()))
    # The final event is there for a blocking waiter, but the stream goes on.
    assert generation.finished and not generation.closed
    generation.emit(SpeechChunk("AAA"))
    generation.release()
    events = drain(generation)
    assert events[-2:] == [SpeechChunk("AAA"), END_OF_STREAM]
    # Nothing is delivered after the end.
    generation.emit(SpeechChunk("late"))
    assert drain(generation) == []


async def test_releasing_before_the_final_event_does_not_end_the_stream() -> None:
    generation = make()
    generation.subscribe(lambda event: None, holds=True)
    generation.release()
    assert not generation.closed
    failure = GenerationFailed("completion_request_error", 400, "boom")
    generation.emit(failure)
    assert drain(generation) == [failure, END_OF_STREAM]


async def test_a_blocking_generation_has_no_queue_but_still_reaches_its_subscribers() -> None:
    generation = make(queue=False)
    seen: list[GenerationEvent] = []
    generation.subscribe(seen.append)
    waiter = asyncio.ensure_future(generation.ended())
    generation.emit(TextDelta("x"))
    ended = MessageEnded("x", Usage())
    generation.emit(ended)
    assert await waiter is ended and seen == [TextDelta("x"), ended] and generation.closed


async def test_a_reader_waiting_when_its_stream_is_detached_ends_at_once() -> None:
    generation = make()
    reader = asyncio.ensure_future(generation.take(timeout=30))
    await asyncio.sleep(0)
    generation.detach()  # the reader fell too far behind, say
    assert await asyncio.wait_for(reader, 1) is END_OF_STREAM
    assert await generation.take() is END_OF_STREAM
