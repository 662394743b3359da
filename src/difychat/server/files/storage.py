"""Blob storage behind a small protocol, so another backend (S3-compatible) can replace the local one."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import uuid
from collections.abc import AsyncGenerator, AsyncIterable
from pathlib import Path
from typing import Protocol

CHUNK_SIZE = 64 * 1024
# Keys are relative, slash-separated, made of plain characters; no empty, "." or ".." segment.
_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")


class StorageError(Exception):
    """The store failed to read or write."""


class BlobNotFound(StorageError):
    """No object is stored under the key."""


class FileStorage(Protocol):
    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Store the chunks under ``key`` and return the byte count. An exception raised by the
        chunks aborts the write and leaves nothing stored."""
        ...

    def open(self, key: str) -> AsyncGenerator[bytes, None]:
        """The stored bytes in chunks; raises ``BlobNotFound`` on first iteration if absent."""
        ...

    async def delete(self, key: str) -> None: ...

    async def exists(self, key: str) -> bool: ...


def check_key(key: str) -> str:
    if len(key) > 512 or not _KEY.match(key) or any(part in {".", ".."} for part in key.split("/")):
        raise ValueError(f"invalid storage key {key!r}")
    return key


class LocalFileStorage:
    """Objects as files under one directory; each write lands atomically (temp file, then rename)."""

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self._root / check_key(key)).resolve()
        if not path.is_relative_to(self._root):
            raise ValueError(f"invalid storage key {key!r}")
        return path

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        path = self._path(key)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        size = 0
        fh = await asyncio.to_thread(open, temp, "xb")
        try:
            async for chunk in chunks:
                if chunk:
                    await asyncio.to_thread(fh.write, chunk)
                    size += len(chunk)
            await asyncio.to_thread(fh.close)
            await asyncio.to_thread(os.replace, temp, path)
        except BaseException:
            fh.close()
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        return size

    async def open(self, key: str) -> AsyncGenerator[bytes, None]:
        path = self._path(key)
        try:
            fh = await asyncio.to_thread(open, path, "rb")
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        except OSError as exc:
            raise StorageError(str(exc)) from exc
        try:
            while chunk := await asyncio.to_thread(fh.read, CHUNK_SIZE):
                yield chunk
        finally:
            fh.close()

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self._path(key).unlink)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)


async def read_all(storage: FileStorage, key: str, limit: int) -> bytes:
    """A stored object's bytes, at most ``limit`` of them."""
    parts: list[bytes] = []
    size = 0
    async with contextlib.aclosing(storage.open(key)) as chunks:
        async for chunk in chunks:
            parts.append(chunk[: limit - size])
            size += len(parts[-1])
            if size >= limit:
                break
    return b"".join(parts)
