"""The bytes of knowledge documents: uploads streamed into storage under a size cap, and the text
of create-by-text kept the same way."""

from __future__ import annotations

import contextlib
import hashlib
import mimetypes
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from difychat.server.documents.bounded import KNOWLEDGE_EXTENSIONS
from difychat.server.errors import FilenameNotExists, FileTooLarge, UnsupportedFileType
from difychat.server.files.storage import FileStorage, StorageError
from difychat.server.store.common import new_id

MB = 1024 * 1024
NAME_MAX = 200
_MIME = {
    "md": "text/markdown",
    "markdown": "text/markdown",
    "mdx": "text/markdown",
    "vtt": "text/vtt",
    "properties": "text/plain",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
}


@dataclass(frozen=True, slots=True)
class StoredUpload:
    """An upload in storage, not yet recorded."""

    id: str
    storage_key: str
    name: str
    extension: str
    mime_type: str
    size: int
    hash: str


def upload_name(filename: str | None) -> tuple[str, str]:
    """The upload's name (cut to 200 characters, its extension kept) and extension, or the
    contract's refusal (400 for no name, 415 for a type that is not a document)."""
    if not filename:
        raise FilenameNotExists()
    filename = filename.replace("\\", "/").rsplit("/", 1)[-1]
    extension = filename.rsplit(".", 1)[1].lower() if "." in filename else ""
    if extension not in KNOWLEDGE_EXTENSIONS:
        raise UnsupportedFileType()
    if len(filename) > NAME_MAX:
        base = filename.rsplit(".", 1)[0]
        filename = base[: NAME_MAX - len(extension) - 1] + "." + extension
    return filename, extension


def mime_of(extension: str, declared: str | None) -> str:
    guessed = _MIME.get(extension) or mimetypes.types_map.get("." + extension)
    return guessed or declared or "application/octet-stream"


class DocumentFiles:
    def __init__(self, storage: FileStorage, *, max_bytes: int) -> None:
        self.storage = storage
        self.max_bytes = max_bytes

    async def store(
        self, dataset_id: str, name: str, extension: str, mime_type: str, chunks: AsyncIterable[bytes]
    ) -> StoredUpload:
        """Stream the chunks into storage, refused with 413 as soon as they pass the cap."""
        file_id = new_id()
        key = f"knowledge/{dataset_id}/{file_id}"
        digest = hashlib.sha256()
        limit = self.max_bytes

        async def checked() -> AsyncIterator[bytes]:
            size = 0
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise FileTooLarge(f"File size exceeded. Files must be at most {_limit(limit)}.")
                digest.update(chunk)
                yield chunk

        size = await self.storage.put(key, checked())
        return StoredUpload(file_id, key, name, extension, mime_type, size, digest.hexdigest())

    async def store_text(self, dataset_id: str, name: str, text: str) -> StoredUpload:
        data = text.encode("utf-8")
        if len(data) > self.max_bytes:
            raise FileTooLarge(f"File size exceeded. Files must be at most {_limit(self.max_bytes)}.")

        async def one() -> AsyncIterator[bytes]:
            yield data

        return await self.store(dataset_id, name, "txt", "text/plain", one())

    async def discard(self, key: str) -> None:
        with contextlib.suppress(StorageError, OSError):
            await self.storage.delete(key)


def _limit(limit: int) -> str:
    return f"{limit / MB:g} MB" if limit % (MB // 4) == 0 else f"{limit} bytes"
