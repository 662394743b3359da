"""Files tools make: stored as tool files of the conversation, attached to the answer, served signed.

Each file is written to the blob storage, then its ``tool_files`` row and the answer's
``message_files`` row (``transfer_method: tool_file``, ``belongs_to: assistant``) are
committed together before its ``message_file`` event goes out, so the URL in the event
already works. The URL is ``/files/tools/<id><.ext>``, signed like a preview (contract §11).
"""

from __future__ import annotations

import contextlib
import mimetypes
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.events import FileProduced
from difychat.server.errors import AppError
from difychat.server.files.signing import UrlSigner
from difychat.server.files.storage import FileStorage, StorageError
from difychat.server.services.files import FileBody
from difychat.server.store import agent as agent_store
from difychat.server.store import writer
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.writer import GroupWriter
from difychat.server.tools.invoke import ProducedFile

INVALID_REQUEST = "Invalid request."
# Mime types the standard table lacks or spells in a way browsers do not expect.
_EXTENSIONS = {"image/jpeg": ".jpg", "text/plain": ".txt", "application/octet-stream": ".bin"}


def extension_for(mime_type: str) -> str:
    """The file name extension a mime type gets (``.bin`` when unknown)."""
    return _EXTENSIONS.get(mime_type) or mimetypes.guess_extension(mime_type, strict=False) or ".bin"


def file_kind(mime_type: str) -> str:
    """The message file ``type`` of a tool file (contract §6.1)."""
    major = mime_type.split("/", 1)[0]
    if major in ("image", "video", "audio"):
        return major
    if major == "text" or mime_type == "application/pdf":
        return "document"
    return "custom"


@dataclass(frozen=True, slots=True)
class Owner:
    """Whose files these are: the answer's app, conversation and message."""

    app_id: str
    conversation_id: str
    message_id: str


class ToolFiles:
    def __init__(
        self, engine: AsyncEngine, storage: FileStorage, signer: UrlSigner, writes: GroupWriter
    ) -> None:
        self._engine = engine
        self._storage = storage
        self._signer = signer
        self._writer = writes

    def url(self, tool_file_id: str, mime_type: str) -> str:
        """A fresh signed URL of a tool file."""
        return self._signer.tool_url(tool_file_id, extension_for(mime_type))

    async def save(self, produced: ProducedFile, owner: Owner, position: int) -> FileProduced:
        tool_file_id, message_file_id = new_id(), new_id()
        extension = extension_for(produced.mime_type)
        key = f"tools/{tool_file_id[:2]}/{tool_file_id}"

        async def content() -> AsyncIterator[bytes]:
            yield produced.data

        size = await self._storage.put(key, content())
        now = utcnow()
        kind = file_kind(produced.mime_type)
        await self._writer.write(
            writer.new_tool_file(
                id=tool_file_id,
                app_id=owner.app_id,
                conversation_id=owner.conversation_id,
                name=produced.name or f"{tool_file_id}{extension}",
                mime_type=produced.mime_type,
                size=size,
                storage_key=key,
                created_at=now,
            ),
            *writer.new_message_files(
                [
                    {
                        "id": message_file_id,
                        "message_id": owner.message_id,
                        "app_id": owner.app_id,
                        "type": kind,
                        "transfer_method": "tool_file",
                        "url": f"/files/tools/{tool_file_id}{extension}",
                        "upload_file_id": tool_file_id,
                        "filename": produced.name or f"{tool_file_id}{extension}",
                        "mime_type": produced.mime_type,
                        "size": size,
                        "belongs_to": "assistant",
                        "position": position,
                        "created_at": now,
                    }
                ]
            ),
        )
        return FileProduced(message_file_id, kind, self.url(tool_file_id, produced.mime_type))

    async def signed(self, name: str, timestamp: str, nonce: str, sign: str) -> FileBody:
        """``GET /files/tools/<id><.ext>``: 403 for a bad or expired signature, 415 for an unknown file."""
        tool_file_id = name.split(".", 1)[0]
        if not self._signer.verify(tool_file_id, timestamp, nonce, sign):
            raise AppError(INVALID_REQUEST, code="forbidden", status=403)
        found = None
        if _is_uuid(tool_file_id):  # anything else is as unknown as a missing id
            async with self._engine.connect() as conn:
                found = await agent_store.tool_file(conn, str(uuid.UUID(tool_file_id)))
        if found is None:
            raise AppError("File not found.", code="unsupported_file_type", status=415)
        chunks = self._storage.open(found.storage_key)
        try:
            first = await anext(chunks, b"")
        except (StorageError, OSError):
            await chunks.aclose()
            raise AppError("File not found.", code="unsupported_file_type", status=415) from None

        async def body() -> AsyncIterator[bytes]:
            async with contextlib.aclosing(chunks):
                if first:
                    yield first
                async for chunk in chunks:
                    yield chunk

        return FileBody(body(), found.name, found.mime_type, found.size)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False
