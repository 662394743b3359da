"""Binary streams (text-to-audio): chunks as they arrive, connection always closed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from types import TracebackType

import httpx

from difychat._errors import APIConnectionError, APITimeoutError

__all__ = ["AsyncByteStream", "ByteStream"]


def _broken(exc: Exception) -> APIConnectionError:
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"Stream timed out: {exc}")
    return APIConnectionError(f"Stream broken: {exc}")


class ByteStream:
    """Chunks of a binary body, e.g. MP3 audio; use it in a ``with`` block.

    Example::

        with client.text_to_audio_stream(text="Hello", user="alice") as audio:
            with open("hello.mp3", "wb") as out:
                for chunk in audio:
                    out.write(chunk)
    """

    def __init__(self, response: httpx.Response) -> None:
        self.response = response

    @property
    def content_type(self) -> str | None:
        """The ``Content-Type`` the server declared (``audio/mpeg`` for Dify)."""
        value: str | None = self.response.headers.get("content-type")
        return value

    def iter_bytes(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """The body in chunks (of ``chunk_size`` bytes when given); closes the connection at the end."""
        try:
            yield from self.response.iter_bytes(chunk_size)
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise _broken(exc) from exc
        finally:
            self.response.close()

    def __iter__(self) -> Iterator[bytes]:
        return self.iter_bytes()

    def read(self) -> bytes:
        """The whole remaining body."""
        return b"".join(self.iter_bytes())

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self.response.close()

    def __enter__(self) -> ByteStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncByteStream:
    """The async twin of :class:`ByteStream`.

    Example::

        async with await client.text_to_audio_stream(text="Hello", user="alice") as audio:
            async for chunk in audio:
                sink.write(chunk)
    """

    def __init__(self, response: httpx.Response) -> None:
        self.response = response

    @property
    def content_type(self) -> str | None:
        """The ``Content-Type`` the server declared."""
        value: str | None = self.response.headers.get("content-type")
        return value

    async def iter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        """The body in chunks; closes the connection at the end."""
        try:
            async for chunk in self.response.aiter_bytes(chunk_size):
                yield chunk
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise _broken(exc) from exc
        finally:
            await self.response.aclose()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.iter_bytes()

    async def read(self) -> bytes:
        """The whole remaining body."""
        return b"".join([chunk async for chunk in self.iter_bytes()])

    async def aclose(self) -> None:
        """Close the connection (idempotent)."""
        await self.response.aclose()

    async def __aenter__(self) -> AsyncByteStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
