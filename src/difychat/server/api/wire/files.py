"""Files: an upload (``POST /files/upload``) and a message's attached files (in the history)."""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict

from difychat.server.api.wire.common import FileUrl, ToolUrl, seconds
from difychat.server.domain.apps import WORKSPACE_ID
from difychat.server.domain.records import MessageFile as MessageFileRecord
from difychat.server.domain.records import UploadFile


class Upload(TypedDict):
    id: str
    name: str
    size: int
    extension: str
    mime_type: str
    created_by: str
    created_at: int
    preview_url: None
    source_url: str
    original_url: None
    user_id: None
    tenant_id: str
    conversation_id: None
    file_key: None


class MessageFile(TypedDict):
    id: str
    filename: str
    type: str
    url: str | None
    mime_type: str
    size: int
    transfer_method: str
    belongs_to: str
    upload_file_id: str | None


def upload(item: UploadFile, file_url: FileUrl) -> dict[str, Any]:
    """The 1.12 shape: the seven original keys, the signed ``source_url``, and nulls for the rest."""
    return {
        "id": item.id,
        "name": item.name,
        "size": item.size,
        "extension": item.extension,
        "mime_type": item.mime_type,
        "created_by": item.end_user_id,
        "created_at": seconds(item.created_at),
        "preview_url": None,
        "source_url": file_url(item.id),
        "original_url": None,
        "user_id": None,
        "tenant_id": WORKSPACE_ID,
        "conversation_id": None,
        "file_key": None,
    }


def message_file(
    item: MessageFileRecord, file_url: FileUrl, tool_url: ToolUrl | None = None
) -> dict[str, Any]:
    """An upload or a tool file gets a fresh signed URL; a link (or a stored absolute URL) is
    shown as it was sent."""
    url = file_url(item.upload_file_id) if item.upload_file_id else item.url
    if item.transfer_method == "tool_file":
        url = item.url
        if tool_url is not None and item.upload_file_id and not (item.url or "").startswith("http"):
            url = tool_url(item.upload_file_id, item.mime_type)
    return {
        "id": item.id,
        "filename": item.filename,
        "type": item.type,
        "url": url,
        "mime_type": item.mime_type,
        "size": item.size,
        "transfer_method": item.transfer_method,
        "belongs_to": item.belongs_to,
        "upload_file_id": item.upload_file_id,
    }
