"""The bounded line reader of model streams (SSE): lines split across and within chunks, and a line
past the limit refused as a provider failure."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp.base_protocol import BaseProtocol

from difychat.server.errors import ProviderError
from difychat.server.providers.lines import StreamLines

pytestmark = pytest.mark.anyio


def _reader(*chunks: bytes) -> aiohttp.StreamReader:
    loop = asyncio.get_running_loop()
    reader = aiohttp.StreamReader(BaseProtocol(loop), 2**16, loop=loop)
    for chunk in chunks:
        reader.feed_data(chunk)
    reader.feed_eof()
    return reader


async def _lines(reader: aiohttp.StreamReader, limit: int) -> list[bytes]:
    return [line async for line in StreamLines(reader, "openai", limit)]


async def test_stream_lines_split_on_newlines_across_and_within_chunks() -> None:
    reader = _reader(b"data: 1\n\ndata: ", b"2", b"2\n", b"\nlast")
    assert await _lines(reader, 100) == [b"data: 1\n", b"\n", b"data: 22\n", b"\n", b"last"]
    assert await _lines(_reader(), 100) == []


@pytest.mark.parametrize(
    "chunks",
    [
        (b"x" * 11 + b"\n",),  # one chunk
        (b"x" * 6, b"x" * 5 + b"\n"),  # the end arrives later
        (b"x" * 6, b"x" * 6),  # never ends
        (b"ok\n" + b"x" * 11,),
    ],
)
async def test_a_stream_line_past_the_limit_is_a_provider_error(chunks: tuple[bytes, ...]) -> None:
    with pytest.raises(ProviderError) as caught:
        await _lines(_reader(*chunks), 10)
    assert caught.value.code == "completion_request_error"
    assert caught.value.message == "[openai] Error: the model's stream sent a line longer than 10 bytes."


async def test_a_line_of_exactly_the_limit_is_read() -> None:
    assert await _lines(_reader(b"x" * 9, b"\n"), 10) == [b"x" * 9 + b"\n"]
