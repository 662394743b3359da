"""The lines of a model's event stream (SSE), read with a bound of our own.

aiohttp's own line iteration (``async for line in response.content``) refuses a line longer
than twice the session's read buffer with an exception of its HTTP parser, which is neither a
``ClientError`` nor a provider failure. Model streams do carry long lines (a tool call's
arguments, an image as a data URL in one chunk), so lines are split here, from the chunks as
they arrive, up to ``MAX_LINE_BYTES``; a longer one is the provider failure ``LINE_TOO_LONG``.
"""

from __future__ import annotations

import aiohttp

from difychat.server.errors import ProviderError
from difychat.server.providers.failures import Failure, failure

# A line of the stream (one event's data) may be this long; longer is refused, so that one
# stream never holds more than this in memory for a single line.
MAX_LINE_BYTES = 16 * 1024 * 1024


class StreamLines:
    """Each line of ``content``, with its ending ``\\n`` (the last one may have none).

    An iterator object rather than a generator, so that a caller may stop early (``[DONE]``,
    ``message_stop``) with nothing left to close."""

    def __init__(self, content: aiohttp.StreamReader, label: str, limit: int = MAX_LINE_BYTES) -> None:
        self._content = content
        self._label = label
        self._limit = limit
        # The complete lines of the chunks read so far; those before ``_next`` were returned.
        self._lines: list[bytes] = []
        self._next = 0
        self._pending: list[bytes] = []  # the start of a line whose end has not arrived
        self._size = 0  # bytes in _pending
        self._eof = False

    def __aiter__(self) -> StreamLines:
        return self

    async def __anext__(self) -> bytes:
        while self._next == len(self._lines):
            if self._eof:
                raise StopAsyncIteration
            self._lines.clear()
            self._next = 0
            chunk = await self._content.readany()
            if chunk:
                self._split(chunk)
            else:
                self._eof = True
                if self._pending:
                    self._lines.append(b"".join(self._pending))
                    self._pending.clear()
        line = self._lines[self._next]
        self._next += 1
        return line

    def _split(self, chunk: bytes) -> None:
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            line = chunk[start : end + 1]
            if self._pending:
                self._grow(len(line))
                self._pending.append(line)
                line = b"".join(self._pending)
                self._pending.clear()
                self._size = 0
            elif len(line) > self._limit:
                raise self._too_long()
            self._lines.append(line)
            start = end + 1
        if start < len(chunk):
            rest = chunk[start:] if start else chunk
            self._grow(len(rest))
            self._pending.append(rest)

    def _grow(self, size: int) -> None:
        self._size += size
        if self._size > self._limit:
            raise self._too_long()

    def _too_long(self) -> ProviderError:
        limit = self._limit
        size = f"{limit // 2**20} MiB" if limit % 2**20 == 0 else f"{limit} bytes"
        return failure(Failure.LINE_TOO_LONG, self._label, size)
