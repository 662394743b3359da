"""Streaming chat answers: :class:`ChatStream` and :class:`AsyncChatStream`.

Both wrap an open HTTP response and share :class:`_ChatState`, which turns decoded SSE events
into typed events, accumulates the answer, keeps the last state of every agent round and the
files tools produced, and remembers the ids. The connection is closed when the stream is
exhausted, when it fails, when ``close()``/``stop()`` is called, and on leaving the ``with``
block.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterator
from types import TracebackType
from typing import Any

import httpx

from difychat._errors import APIConnectionError, APITimeoutError, IncompleteStreamError, make_status_error
from difychat._sse import ServerSentEvent, SSEDecoder
from difychat.types.agent import AgentThought, MessageFile
from difychat.types.chat import ChatMessage, ChatMetadata, Usage
from difychat.types.events import (
    AgentThoughtEvent,
    ErrorEvent,
    MessageEndEvent,
    MessageFileEvent,
    MessageReplaceEvent,
    PingEvent,
    StreamEvent,
    TextDeltaEvent,
    parse_event,
)

__all__ = ["AsyncChatStream", "ChatStream"]


class _ChatState:
    """What the stream has learnt so far; updated by every event, no I/O."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.decoder = SSEDecoder()
        self.parts: list[str] = []
        self.task_id: str | None = None
        self.message_id: str | None = None
        self.conversation_id: str | None = None
        self.first: StreamEvent | None = None
        self.end: MessageEndEvent | None = None
        # The latest publication of each agent round, and each tool file, by id (first-seen order).
        self.thoughts: dict[str, AgentThoughtEvent] = {}
        self.files: dict[str, MessageFileEvent] = {}
        self.failed = False
        self.stopped = False

    def handle(self, sse: ServerSentEvent) -> StreamEvent | None:
        """The typed event for ``sse``, ``None`` for pings and non-JSON frames; raises on ``error``."""
        if not sse.data.strip():
            return None  # "event: ping" and other data-less frames
        try:
            payload = json.loads(sse.data)
        except ValueError:
            return None
        if not isinstance(payload, dict):
            return None
        event = parse_event(payload, sse.event)
        if isinstance(event, PingEvent):
            return None
        self._remember(event)
        if isinstance(event, ErrorEvent) or event.event == "error":
            self.failed = True
            raise self._error(payload)
        return event

    def _remember(self, event: StreamEvent) -> None:
        if self.first is None:
            self.first = event
        self.task_id = self.task_id or event.task_id
        self.message_id = self.message_id or event.message_id
        self.conversation_id = self.conversation_id or event.conversation_id
        if isinstance(event, TextDeltaEvent):
            self.parts.append(event.answer)
        elif isinstance(event, MessageReplaceEvent):
            self.parts = [event.answer]
        elif isinstance(event, AgentThoughtEvent):
            key = event.id or f"position:{event.position}"
            self.thoughts[key] = event
        elif isinstance(event, MessageFileEvent):
            self.files[event.id or event.url or f"file:{len(self.files)}"] = event
        elif isinstance(event, MessageEndEvent):
            self.end = event
            self.message_id = self.message_id or event.id

    def _error(self, payload: dict[str, Any]) -> Exception:
        status = payload.get("status")
        return make_status_error(
            status if isinstance(status, int) else 500,
            payload,
            response=self.response,
            in_stream=True,
            default_message="The server reported an error in the stream.",
        )

    def check_complete(self) -> None:
        if self.end is None and not self.failed and not self.stopped:
            raise IncompleteStreamError(
                "The stream ended before message_end: the answer may be cut short "
                f"({len(self.answer)} characters received)."
            )

    @property
    def answer(self) -> str:
        return "".join(self.parts)

    def agent_thoughts(self) -> list[AgentThought]:
        # sorted() is stable: rounds without a position keep their arrival order, last.
        latest = sorted(self.thoughts.values(), key=lambda t: (t.position is None, t.position or 0))
        return [event.as_thought() for event in latest]

    def message_files(self) -> list[MessageFile]:
        return [event.as_file() for event in self.files.values()]

    def broken(self, exc: Exception) -> Exception:
        if isinstance(exc, httpx.TimeoutException):
            return APITimeoutError(f"Stream timed out: {exc}", request=_request_of(exc))
        return APIConnectionError(f"Stream broken: {exc}", request=_request_of(exc))

    def result(self) -> ChatMessage:
        end = self.end
        created = self.first.created_at if self.first is not None else None
        return ChatMessage(
            event="message",
            task_id=self.task_id,
            id=self.message_id,
            message_id=self.message_id,
            conversation_id=self.conversation_id,
            answer=self.answer,
            metadata=end.metadata if end is not None else ChatMetadata(),
            created_at=created,
            agent_thoughts=self.agent_thoughts(),
            message_files=self.message_files(),
        )


def _request_of(exc: Exception) -> httpx.Request | None:
    if not isinstance(exc, httpx.RequestError):
        return None
    try:
        return exc.request
    except RuntimeError:  # raised when the error was created without a request
        return None


class _StreamViews:
    """Read-only views over the state, identical for both streams."""

    _state: _ChatState

    @property
    def response(self) -> httpx.Response:
        """The underlying HTTP response."""
        return self._state.response

    @property
    def task_id(self) -> str | None:
        """Id of the generation task (for ``stop``), known once the first event has arrived."""
        return self._state.task_id

    @property
    def message_id(self) -> str | None:
        """Id of the answer message, known once the first event has arrived."""
        return self._state.message_id

    @property
    def conversation_id(self) -> str | None:
        """Id of the conversation (new or continued), known once the first event has arrived."""
        return self._state.conversation_id

    @property
    def answer(self) -> str:
        """The answer text received so far (after a ``message_replace``, the replacement)."""
        return self._state.answer

    @property
    def agent_thoughts(self) -> list[AgentThought]:
        """An agent's rounds so far, by ``position``, each in its latest published state.

        Example::

            with client.stream_message("What time is it?", user="alice") as stream:
                answer = "".join(stream.iter_text())
            for thought in stream.agent_thoughts:
                print(thought.tool_names, thought.observations)
        """
        return self._state.agent_thoughts()

    @property
    def message_files(self) -> list[MessageFile]:
        """The files an agent's tools produced so far (``message_file`` events), in order."""
        return self._state.message_files()

    @property
    def message_end(self) -> MessageEndEvent | None:
        """The ``message_end`` event, once it has arrived."""
        return self._state.end

    @property
    def usage(self) -> Usage | None:
        """Token usage and price, once ``message_end`` has arrived."""
        return self._state.end.metadata.usage if self._state.end is not None else None


class ChatStream(_StreamViews):
    """The events of a streaming answer; iterate it inside a ``with`` block.

    Pings are skipped; an ``error`` event raises the matching :class:`~difychat.APIStatusError`.

    Example::

        with client.stream_message("Tell me a joke", user="alice") as stream:
            for text in stream.iter_text():
                print(text, end="", flush=True)
        print(stream.usage)
    """

    def __init__(self, response: httpx.Response, *, stop: Callable[[str], None]) -> None:
        self._state = _ChatState(response)
        self._stop = stop
        self._buffer: list[StreamEvent] = []
        self._events = self._generate()
        self._closed = False

    def _generate(self) -> Generator[StreamEvent, None, None]:
        state = self._state
        try:
            try:
                for chunk in state.response.iter_bytes():
                    for sse in state.decoder.feed(chunk):
                        event = state.handle(sse)
                        if event is not None:
                            yield event
                for sse in state.decoder.flush():
                    event = state.handle(sse)
                    if event is not None:
                        yield event
            except (httpx.TransportError, httpx.StreamError) as exc:
                if self._closed:
                    return
                raise state.broken(exc) from exc
            state.check_complete()
        finally:
            self._closed = True
            state.response.close()

    def __iter__(self) -> Iterator[StreamEvent]:
        return self

    def __next__(self) -> StreamEvent:
        if self._buffer:
            return self._buffer.pop(0)
        if self._closed and self._state.stopped:
            raise StopIteration
        return next(self._events)

    def peek(self) -> StreamEvent | None:
        """The next event without consuming it (``None`` at the end); after it the ids are known.

        Example::

            stream = client.stream_message("Hi", user="alice")
            stream.peek()
            print(stream.task_id, stream.conversation_id)
        """
        if not self._buffer:
            try:
                self._buffer.append(next(self._events))
            except StopIteration:
                return None
        return self._buffer[0]

    def iter_text(self) -> Iterator[str]:
        """Only the answer's text deltas, as strings (``message``, ``agent_message``...).

        Example::

            answer = "".join(stream.iter_text())
        """
        for event in self:
            if isinstance(event, TextDeltaEvent) and event.answer:
                yield event.answer

    def collect(self) -> ChatMessage:
        """Read the rest of the stream and return the answer as a blocking call would.

        For an agent the result also holds ``agent_thoughts`` (each round's last state, by
        ``position``) and ``message_files`` (the files its tools produced). This is also how to
        get an agent's whole answer from Dify, which refuses blocking mode for agent apps.

        Example::

            message = client.stream_message("Hi", user="alice").collect()
            for thought in message.agent_thoughts:
                print(thought.tool, thought.observation)
        """
        for _ in self:
            pass
        return self._state.result()

    def stop(self) -> None:
        """Ask the server to stop generating, then close the connection.

        Waits for the first event if the task id is not known yet. The server keeps the
        partial answer.

        Example::

            with client.stream_message("Write a long story", user="alice") as stream:
                for text in stream.iter_text():
                    if too_long():
                        stream.stop()
        """
        try:
            if self._state.task_id is None and not self._closed:
                self.peek()
            if self._state.task_id is not None and self._state.end is None:
                self._stop(self._state.task_id)
        finally:
            self._state.stopped = True
            self.close()

    def close(self) -> None:
        """Close the connection (idempotent). Events already received stay readable."""
        self._closed = True
        self._events.close()
        self._state.response.close()

    @property
    def closed(self) -> bool:
        """Whether the connection has been closed."""
        return self._closed

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncChatStream(_StreamViews):
    """The async twin of :class:`ChatStream`; iterate it inside an ``async with`` block.

    Example::

        async with await client.stream_message("Tell me a joke", user="alice") as stream:
            async for text in stream.iter_text():
                print(text, end="", flush=True)
    """

    def __init__(self, response: httpx.Response, *, stop: Callable[[str], Awaitable[None]]) -> None:
        self._state = _ChatState(response)
        self._stop = stop
        self._buffer: list[StreamEvent] = []
        self._events = self._generate()
        self._closed = False

    async def _generate(self) -> AsyncGenerator[StreamEvent, None]:
        state = self._state
        try:
            try:
                async for chunk in state.response.aiter_bytes():
                    for sse in state.decoder.feed(chunk):
                        event = state.handle(sse)
                        if event is not None:
                            yield event
                for sse in state.decoder.flush():
                    event = state.handle(sse)
                    if event is not None:
                        yield event
            except (httpx.TransportError, httpx.StreamError) as exc:
                if self._closed:
                    return
                raise state.broken(exc) from exc
            state.check_complete()
        finally:
            self._closed = True
            await state.response.aclose()

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self

    async def __anext__(self) -> StreamEvent:
        if self._buffer:
            return self._buffer.pop(0)
        if self._closed and self._state.stopped:
            raise StopAsyncIteration
        return await self._events.__anext__()

    async def peek(self) -> StreamEvent | None:
        """The next event without consuming it (``None`` at the end); after it the ids are known.

        Example::

            stream = await client.stream_message("Hi", user="alice")
            await stream.peek()
            print(stream.task_id)
        """
        if not self._buffer:
            try:
                self._buffer.append(await self._events.__anext__())
            except StopAsyncIteration:
                return None
        return self._buffer[0]

    async def iter_text(self) -> AsyncIterator[str]:
        """Only the answer's text deltas, as strings.

        Example::

            async for text in stream.iter_text():
                print(text, end="")
        """
        async for event in self:
            if isinstance(event, TextDeltaEvent) and event.answer:
                yield event.answer

    async def collect(self) -> ChatMessage:
        """Read the rest of the stream and return the answer as a blocking call would
        (with an agent's ``agent_thoughts`` and ``message_files``, as ``ChatStream.collect()``).

        Example::

            message = await (await client.stream_message("Hi", user="alice")).collect()
        """
        async for _ in self:
            pass
        return self._state.result()

    async def stop(self) -> None:
        """Ask the server to stop generating, then close the connection.

        Example::

            await stream.stop()
        """
        try:
            if self._state.task_id is None and not self._closed:
                await self.peek()
            if self._state.task_id is not None and self._state.end is None:
                await self._stop(self._state.task_id)
        finally:
            self._state.stopped = True
            await self.aclose()

    async def aclose(self) -> None:
        """Close the connection (idempotent)."""
        self._closed = True
        await self._events.aclose()
        await self._state.response.aclose()

    @property
    def closed(self) -> bool:
        """Whether the connection has been closed."""
        return self._closed

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
