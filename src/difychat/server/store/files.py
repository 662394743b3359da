"""Uploaded files and the files attached to messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.domain.records import MessageFile, UploadFile
from difychat.server.store.common import Record
from difychat.server.store.schema import message_files, messages, upload_files


def upload_of(row: Record) -> UploadFile:
    return UploadFile(
        id=str(row.id),
        app_id=str(row.app_id),
        end_user_id=str(row.end_user_id),
        name=row.name,
        size=int(row.size),
        extension=row.extension,
        mime_type=row.mime_type,
        storage_key=row.storage_key,
        hash=row.hash,
        created_at=row.created_at,
    )


def message_file_of(row: Record) -> MessageFile:
    return MessageFile(
        id=str(row.id),
        message_id=str(row.message_id),
        type=row.type,
        transfer_method=row.transfer_method,
        url=row.url,
        upload_file_id=str(row.upload_file_id) if row.upload_file_id else None,
        filename=row.filename,
        mime_type=row.mime_type,
        size=int(row.size),
        belongs_to=row.belongs_to,
        position=row.position,
        created_at=row.created_at,
    )


async def insert_upload(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(upload_files.insert().values(**values))


async def upload(conn: AsyncConnection, file_id: str) -> Record | None:
    return (await conn.execute(sa.select(upload_files).where(upload_files.c.id == file_id))).first()


async def uploads(
    conn: AsyncConnection, file_ids: Sequence[str], *, app_id: str, end_user_id: str
) -> dict[str, Record]:
    """The uploads among ``file_ids`` that this end user of this app made; others are not found."""
    if not file_ids:
        return {}
    rows = await conn.execute(
        sa.select(upload_files).where(
            upload_files.c.id.in_(list(file_ids)),
            upload_files.c.app_id == app_id,
            upload_files.c.end_user_id == end_user_id,
        )
    )
    return {str(r.id): r for r in rows}


async def for_messages(conn: AsyncConnection, message_ids: Sequence[str]) -> dict[str, list[Record]]:
    """Each message's files in attachment order, with the upload's metadata joined in."""
    if not message_ids:
        return {}
    query = (
        sa.select(message_files)
        .where(message_files.c.message_id.in_(list(message_ids)))
        .order_by(message_files.c.message_id, message_files.c.position)
    )
    out: dict[str, list[Record]] = {}
    for row in await conn.execute(query):
        out.setdefault(str(row.message_id), []).append(row)
    return out


async def attached(conn: AsyncConnection, message_ids: Sequence[str]) -> dict[str, list[MessageFile]]:
    """Each message's files in attachment order (messages without files are left out)."""
    found = await for_messages(conn, message_ids)
    return {message_id: [message_file_of(row) for row in rows] for message_id, rows in found.items()}


async def referencing_apps(conn: AsyncConnection, upload_file_id: str) -> set[str]:
    """The apps whose messages reference the upload."""
    rows = await conn.execute(
        sa.select(messages.c.app_id)
        .select_from(message_files.join(messages, messages.c.id == message_files.c.message_id))
        .where(message_files.c.upload_file_id == upload_file_id)
        .distinct()
    )
    return {str(r[0]) for r in rows}
