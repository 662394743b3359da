"""An incremental Server-Sent Events decoder (no I/O, shared by the sync and async streams).

It follows the WHATWG event-stream rules where Dify relies on them and is lenient elsewhere:

* bytes are decoded incrementally, so a UTF-8 sequence split across two chunks is kept whole;
* lines end with ``\\n``, ``\\r\\n`` or a lone ``\\r``, even when ``\\r`` and ``\\n`` arrive in
  different chunks;
* ``:`` lines are comments; ``data:`` lines of one event are joined with ``\\n``; one space
  after the colon is dropped (``data:x`` and ``data: x`` are the same);
* a blank line dispatches the event, and an event that has only an ``event:`` line (Dify's
  ``event: ping``) is still dispatched, with empty data;
* at the end of the body an event that was not terminated by a blank line is dispatched
  rather than dropped, so a server that omits the final blank line loses nothing.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["SSEDecoder", "ServerSentEvent", "aiter_sse", "iter_sse"]

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One decoded event: its ``event:`` name (``None`` when absent), joined data, id and retry."""

    event: str | None = None
    data: str = ""
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        """The data decoded as JSON (raises ``ValueError`` when it is not JSON)."""
        return json.loads(self.data)


class SSEDecoder:
    """Feed it bytes as they arrive; it returns the events each chunk completes.

    Example::

        decoder = SSEDecoder()
        events = decoder.feed(b'data: {"a": 1}\\n\\nda')
        events += decoder.feed(b'ta: 2\\n\\n')
        events += decoder.flush()
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._at_start = True
        self._event: str | None = None
        self._data: list[str] = []
        self._retry: int | None = None
        self._last_id: str | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode one chunk of the body and return the events it completes."""
        return self._feed_text(self._decoder.decode(chunk))

    def flush(self) -> list[ServerSentEvent]:
        """Signal the end of the body and return whatever event is still pending."""
        events = self._feed_text(self._decoder.decode(b"", final=True))
        if self._pending:
            # A lone "\r" held back at the end, or a last line without any line end.
            line = self._pending[:-1] if self._pending.endswith("\r") else self._pending
            self._pending = ""
            event = self._process_line(line)
            if event is not None:
                events.append(event)
        event = self._dispatch()
        if event is not None:
            events.append(event)
        return events

    def _feed_text(self, text: str) -> list[ServerSentEvent]:
        if self._at_start and text:
            self._at_start = False
            if text.startswith("\ufeff"):
                text = text[1:]
        buffer = self._pending + text
        events: list[ServerSentEvent] = []
        start = 0
        size = len(buffer)
        while True:
            match = _LINE_END.search(buffer, start)
            if match is None:
                break
            if match.group() == "\r" and match.end() == size:
                # The "\n" of a "\r\n" may be in the next chunk: wait for it.
                break
            event = self._process_line(buffer[start : match.start()])
            start = match.end()
            if event is not None:
                events.append(event)
        self._pending = buffer[start:]
        return events

    def _process_line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._last_id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data and self._event is None:
            self._retry = None
            return None
        event = ServerSentEvent(
            event=self._event or None,
            data="\n".join(self._data),
            id=self._last_id,
            retry=self._retry,
        )
        self._event = None
        self._data = []
        self._retry = None
        return event


def iter_sse(chunks: Iterable[bytes]) -> Iterator[ServerSentEvent]:
    """Decode an iterable of byte chunks into events."""
    decoder = SSEDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.flush()


async def aiter_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[ServerSentEvent]:
    """Decode an async iterable of byte chunks into events."""
    decoder = SSEDecoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
    for event in decoder.flush():
        yield event
