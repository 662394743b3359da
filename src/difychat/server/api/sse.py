"""Server-sent events the way Dify frames them.

Every event is ``data: <compact JSON>\\n\\n`` whose first keys are ``event``,
``conversation_id`` (not in a completion app's), ``message_id``, ``created_at``; the only
``event:`` line is the ``event: ping`` keep-alive after a silence. The common prefix of each
payload is built once per stream, so a text delta costs one string encode.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from difychat.server.api.wire.chat import metadata
from difychat.server.domain.app_modes import COMPLETION
from difychat.server.domain.events import (
    AnswerReplaced,
    FileProduced,
    GenerationEvent,
    MessageEnded,
    SpeechChunk,
    SpeechEnded,
    TextDelta,
    ThoughtUpdated,
)
from difychat.server.generation.registry import Generation

logger = logging.getLogger("difychat.sse")

PING = b"event: ping\n\n"
# Events already waiting are joined into one write up to about this many bytes.
COALESCE_BYTES = 4 * 1024
MEDIA_TYPE = "text/event-stream; charset=utf-8"


class EventEncoder:
    def __init__(self, generation: Generation, created_at: int, mode: str) -> None:
        # A completion's events carry no conversation (Dify's completion stream).
        conversation = {} if mode == COMPLETION else {"conversation_id": generation.conversation_id}
        ids = {**conversation, "message_id": generation.message_id, "created_at": created_at}
        self._ids = ids
        self._task_id = generation.task_id
        self._message_id = generation.message_id
        head = orjson.dumps(ids)[1:-1]  # ["conversation_id":..,]"message_id":..,"created_at":..
        task = b',"task_id":' + orjson.dumps(generation.task_id)
        agent = mode == "agent-chat"
        kind = b"agent_message" if agent else b"message"
        self._delta_head = (
            b'data: {"event":"'
            + kind
            + b'",'
            + head
            + task
            + b',"id":'
            + orjson.dumps(self._message_id)
            + b',"answer":'
        )
        self._delta_tail = b"}\n\n" if agent else b',"from_variable_selector":null}\n\n'

    def encode(self, event: GenerationEvent) -> bytes:
        if isinstance(event, TextDelta):
            return self._delta_head + orjson.dumps(event.text) + self._delta_tail
        if isinstance(event, MessageEnded):
            return self._frame(
                "message_end",
                {
                    "task_id": self._task_id,
                    "id": self._message_id,
                    "metadata": metadata(event),
                    "files": None,
                },
            )
        if isinstance(event, ThoughtUpdated):
            return self._frame(
                "agent_thought",
                {
                    "task_id": self._task_id,
                    "id": event.id,
                    "position": event.position,
                    "thought": event.thought,
                    "observation": event.observation,
                    "tool": event.tool,
                    "tool_labels": event.tool_labels,
                    "tool_input": event.tool_input,
                    "message_files": list(event.files),
                },
            )
        if isinstance(event, FileProduced):
            return self._frame(
                "message_file",
                {
                    "task_id": self._task_id,
                    "id": event.id,
                    "type": event.type,
                    "belongs_to": event.belongs_to,
                    "url": event.url,
                },
            )
        if isinstance(event, AnswerReplaced):
            return self._frame(
                "message_replace", {"task_id": self._task_id, "answer": event.answer, "reason": event.reason}
            )
        if isinstance(event, SpeechChunk):
            return self._frame("tts_message", {"task_id": self._task_id, "audio": event.audio})
        if isinstance(event, SpeechEnded):
            return self._frame("tts_message_end", {"task_id": self._task_id, "audio": ""})
        return self._frame("error", {"code": event.code, "status": event.status, "message": event.message})

    def _frame(self, name: str, fields: dict[str, Any]) -> bytes:
        return b"data: " + orjson.dumps({"event": name, **self._ids, **fields}) + b"\n\n"


class Silence:
    """No event for a ping interval: time for a keep-alive."""


SILENCE = Silence()


async def next_event(generation: Generation, timeout: float) -> GenerationEvent | Silence | None:
    """The generation's next event, ``SILENCE`` after ``timeout`` seconds without one, or
    ``None`` (``END_OF_STREAM``) once the stream is over or the reader was detached."""
    if generation.has_next():
        return generation.take_nowait()
    try:
        return await generation.take(timeout)
    except TimeoutError:
        return SILENCE


async def event_stream(
    generation: Generation, encoder: EventEncoder, ping_interval: float
) -> AsyncIterator[bytes]:
    """The SSE body, until the generation's stream ends. A client that leaves only detaches:
    the generation goes on and is saved."""
    try:
        event = await next_event(generation, ping_interval)
        while event is not None:  # END_OF_STREAM
            if isinstance(event, Silence):
                yield PING
            else:
                # Events queued meanwhile go out in the same write: a busy server sends fewer,
                # larger writes, and the bytes on the wire are the same.
                frames = [encoder.encode(event)]
                size = len(frames[0])
                while size < COALESCE_BYTES and generation.has_next():
                    event = generation.take_nowait()
                    if event is None:
                        yield b"".join(frames)
                        return
                    frames.append(encoder.encode(event))
                    size += len(frames[-1])
                yield frames[0] if len(frames) == 1 else b"".join(frames)
            event = await next_event(generation, ping_interval)
    finally:
        generation.detach()


class EventStreamResponse(Response):
    """An SSE body sent as it is produced, with Dify's headers.

    Starlette's StreamingResponse runs a second task per response to watch for the client
    leaving, so that it can cancel the body. Here nothing needs cancelling: the generation
    does not belong to the request, and the body ends when the generation does (a client
    that left only costs the encoding of the events it no longer reads).

    A client that stops reading without leaving makes ``send`` wait (the server's flow
    control): after ``send_timeout`` seconds of that the response is abandoned, which closes
    the connection. Meanwhile the generation's bounded queue detaches it if it falls too far
    behind, so what a stalled stream holds stays flat.
    """

    media_type = MEDIA_TYPE

    def __init__(self, body: AsyncIterator[bytes], *, send_timeout: float = 60.0) -> None:
        self.body_iterator = body
        self.status_code = 200
        self.background = None
        self.send_timeout = send_timeout
        self.init_headers({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        watch = _SendWatch(loop, self.send_timeout)
        try:
            # One deadline for the whole response, expired by the watch once a send has waited
            # ``send_timeout`` seconds; a send only notes when it began.
            async with asyncio.timeout(None) as deadline:
                watch.start(deadline)
                watch.since = loop.time()
                await send(
                    {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
                )
                watch.since = None  # waiting for the next event is not a send waiting
                async for chunk in self.body_iterator:
                    watch.since = loop.time()
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    watch.since = None
                watch.since = loop.time()
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except TimeoutError:
            logger.warning("an event stream's client read nothing for %.0f s; closing it", self.send_timeout)
        except OSError:
            # Servers on ASGI 2.4 raise once the client has gone; there is no one left to answer.
            pass
        finally:
            watch.stop()
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                await aclose()


class _SendWatch:
    """One timer per response that cuts a send waiting ``limit`` seconds on a client that reads
    nothing. Each send sets ``since`` (loop time; None between sends); the timer is re-armed only
    when it fires, for the deadline of the send under way then, so a fast stream arms one timer
    per ``limit`` seconds rather than one per write."""

    __slots__ = ("_deadline", "_limit", "_loop", "_timer", "since")

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: float) -> None:
        self._loop = loop
        self._limit = limit
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: asyncio.Timeout | None = None
        self.since: float | None = None

    def start(self, deadline: asyncio.Timeout) -> None:
        self._deadline = deadline
        self._timer = self._loop.call_later(self._limit, self._check)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        now = self._loop.time()
        since = self.since
        if since is not None and now - since >= self._limit - 0.001 and self._deadline is not None:
            self._timer = None
            self._deadline.reschedule(now)  # expires: the waiting send is cancelled
            return
        self._timer = self._loop.call_at((now if since is None else since) + self._limit, self._check)
