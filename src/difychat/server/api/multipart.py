"""A pull-style streaming multipart/form-data reader: parts come out as the body arrives,
and part data is never buffered beyond one network chunk."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from difychat.server.errors import BadRequest


@dataclass(slots=True)
class PartHeaders:
    name: str
    filename: str | None
    content_type: str
    raw: dict[str, str] = field(default_factory=dict)


class MultipartReader:
    def __init__(self, content_type: str, source: AsyncIterator[bytes]) -> None:
        media, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if media != b"multipart/form-data" or not boundary:
            raise ValueError("not multipart/form-data")
        self._source = source
        self._events: deque[tuple[str, Any]] = deque()
        self._field = b""
        self._value = b""
        self._headers: dict[str, str] = {}
        self._done = False
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
        )

    # parser callbacks
    def _part_begin(self) -> None:
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        # latin-1 keeps the bytes as they came; names are decoded as UTF-8 below. NULs go, as from
        # every text a request carries (field names, file names, content types).
        field_name = self._field.replace(b"\x00", b"").decode("latin-1").lower()
        self._headers[field_name] = self._value.replace(b"\x00", b"").decode("latin-1")
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", "").encode("latin-1"))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = options.get(b"filename")
        filename = None if raw_filename is None else raw_filename.decode("utf-8", "replace")
        content_type = self._headers.get("content-type", "").strip()
        self._events.append(("part", PartHeaders(name, filename, content_type, self._headers)))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if end > start:
            self._events.append(("data", data[start:end]))

    def _part_end(self) -> None:
        self._events.append(("end", None))

    def _end(self) -> None:
        self._done = True

    async def _next(self) -> tuple[str, Any]:
        while not self._events:
            if self._done:
                return ("eof", None)
            try:
                chunk = await anext(self._source)
            except StopAsyncIteration:
                if not self._done:
                    raise BadRequest() from None
                return ("eof", None)
            try:
                self._parser.write(chunk)
            except MultipartParseError:
                raise BadRequest() from None
        return self._events.popleft()

    async def next_part(self) -> PartHeaders | None:
        """The next part's headers (skipping whatever is left of the current part), or None at the end."""
        while True:
            kind, value = await self._next()
            if kind == "part":
                assert isinstance(value, PartHeaders)
                return value
            if kind == "eof":
                return None

    async def data(self) -> AsyncIterator[bytes]:
        """The current part's data, chunk by chunk."""
        while True:
            kind, value = await self._next()
            if kind == "data":
                yield value
            elif kind == "part":  # pragma: no cover - the parser always ends a part first
                self._events.appendleft((kind, value))
                return
            else:
                return

    async def read_field(self, limit: int) -> bytes:
        """The current part's value, at most ``limit`` bytes, without NUL characters."""
        parts: list[bytes] = []
        size = 0
        async for chunk in self.data():
            size += len(chunk)
            if size > limit:
                raise BadRequest("A form field is too long.")
            parts.append(chunk)
        return b"".join(parts).replace(b"\x00", b"")
