"""Models for uploaded files and downloaded file content."""

from __future__ import annotations

from dataclasses import dataclass

from difychat.types._base import DifyModel, Timestamp

__all__ = ["FileContent", "UploadedFile"]


class UploadedFile(DifyModel):
    """The result of ``upload_file``; attach it to a message with ``ChatFile.local(file.id)``."""

    id: str
    name: str | None = None
    size: int | None = None
    extension: str | None = None
    mime_type: str | None = None
    created_by: str | None = None
    created_at: Timestamp | None = None
    preview_url: str | None = None
    source_url: str | None = None


@dataclass(frozen=True, slots=True)
class FileContent:
    """Bytes downloaded from the server, with the type and name it declared."""

    content: bytes
    content_type: str | None
    filename: str | None = None
