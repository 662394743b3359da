"""Metadata of a dataset's documents: its fields (create, list, rename, delete), the built-in
fields switch, and the values documents carry.

A field belongs to one dataset and has a type (``string``, ``number`` or ``time``) and a name
unique in the dataset that is not a built-in field's. A document's values live in its
``doc_metadata`` object under the fields' names; renaming or deleting a field rewrites the
documents that carry it in the same transaction, so no stale key is left behind.

Those transactions and the one that sets values read, decide and write (``write_transaction``),
and take their locks in one order, fields before documents: a value set while its field is
renamed or deleted is written under the name the field has once the rename commits, or refused
if the field is gone, never left under the old name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from difychat.server.domain.knowledge import BUILT_IN_FIELDS, METADATA_TYPES, MetadataField
from difychat.server.domain.values import parse_uuid
from difychat.server.errors import DOCUMENT_NOT_FOUND, InvalidParam, NotFound
from difychat.server.services.knowledge import OWNER_ID
from difychat.server.store import datasets as dataset_store
from difychat.server.store import metadata_fields as store
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.db import write_transaction

NAME_MAX = 255
METADATA_NOT_FOUND = "Metadata not found."
NAME_TAKEN = "Metadata name already exists."
NAME_BUILT_IN = "Metadata name already exists in Built-in fields."


@dataclass(frozen=True, slots=True)
class ValueChange:
    """One field's new value for a document (``metadata_list`` item)."""

    metadata_id: str
    value: Any


@dataclass(frozen=True, slots=True)
class DocumentChange:
    """One ``operation_data`` item: the document and its values; ``partial`` keeps the others."""

    document_id: str
    values: Sequence[ValueChange]
    partial: bool = False


def check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidParam("Metadata name cannot be empty.")
    name = name.strip()
    if len(name) > NAME_MAX:
        raise InvalidParam(f"Metadata name cannot exceed {NAME_MAX} characters.")
    if any(name == built_in for built_in, _ in BUILT_IN_FIELDS):
        raise InvalidParam(NAME_BUILT_IN)
    return name


class MetadataService:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def fields(self, dataset_id: str) -> list[MetadataField]:
        """The dataset's fields, oldest first, each with how many documents carry it."""
        async with self._engine.connect() as conn:
            return (await store.fields(conn, [dataset_id])).get(dataset_id, [])

    async def create(self, dataset_id: str, type: str, name: object) -> MetadataField:
        if type not in METADATA_TYPES:
            raise InvalidParam(f"type must be one of: {', '.join(METADATA_TYPES)}")
        name = check_name(name)
        now = utcnow()
        field_id = new_id()
        try:
            async with self._engine.begin() as conn:
                if await store.name_taken(conn, dataset_id, name):
                    raise InvalidParam(NAME_TAKEN)
                await store.insert_field(
                    conn,
                    id=field_id,
                    dataset_id=dataset_id,
                    type=type,
                    name=name,
                    created_by=OWNER_ID,
                    updated_by=None,
                    created_at=now,
                    updated_at=now,
                )
        except IntegrityError:  # the same name created at the same moment
            raise InvalidParam(NAME_TAKEN) from None
        return MetadataField(field_id, dataset_id, type, name)

    async def rename(self, dataset_id: str, metadata_id: str, name: object) -> MetadataField:
        name = check_name(name)
        try:
            async with write_transaction(self._engine) as conn:
                found = await self._field(conn, dataset_id, metadata_id)
                if await store.name_taken(conn, dataset_id, name, other_than=found.id):
                    raise InvalidParam(NAME_TAKEN)
                if name != found.name:
                    await store.rename_field(conn, found.id, name, updated_by=OWNER_ID, updated_at=utcnow())
                    changes = []
                    for document_id, stored in await store.bound_documents(conn, found.id):
                        values = dict(stored) if isinstance(stored, dict) else {}
                        values[name] = values.pop(found.name, None)
                        changes.append((document_id, values))
                    await store.set_docs_metadata(conn, changes)
        except IntegrityError:
            raise InvalidParam(NAME_TAKEN) from None
        return MetadataField(found.id, dataset_id, found.type, name)

    async def delete(self, dataset_id: str, metadata_id: str) -> None:
        """The field, and its value in every document that carried it."""
        async with write_transaction(self._engine) as conn:
            found = await self._field(conn, dataset_id, metadata_id)
            changes = []
            for document_id, stored in await store.bound_documents(conn, found.id):
                values = dict(stored) if isinstance(stored, dict) else {}
                values.pop(found.name, None)
                changes.append((document_id, values))
            await store.set_docs_metadata(conn, changes)
            await store.delete_field(conn, found.id)

    async def set_built_in(self, dataset_id: str, enabled: bool) -> None:
        async with self._engine.begin() as conn:
            await dataset_store.update_dataset(conn, dataset_id, built_in_field_enabled=enabled)

    async def update_documents(self, dataset_id: str, changes: Sequence[DocumentChange]) -> None:
        """Set documents' values, all or none: an unknown document or field changes nothing."""
        async with write_transaction(self._engine) as conn:
            document_ids = [parse_uuid(c.document_id) for c in changes]
            metadata_ids = [parse_uuid(v.metadata_id) for c in changes for v in c.values]
            # Fields first, then documents: the order a rename or a delete takes its locks in.
            fields = await store.by_ids(conn, dataset_id, [m for m in metadata_ids if m], share=True)
            found = await store.documents_for_update(conn, dataset_id, [d for d in document_ids if d])
            documents = {d.id: d for d in found}
            if any(d is None or d not in documents for d in document_ids):
                raise NotFound(DOCUMENT_NOT_FOUND)
            if any(m is None or m not in fields for m in metadata_ids):
                raise NotFound(METADATA_NOT_FOUND)
            now = utcnow()
            current = {d.id: d.doc_metadata for d in found}
            for change, document_id in zip(changes, document_ids, strict=True):
                assert document_id is not None
                stored = current[document_id]
                values = dict(stored) if change.partial and isinstance(stored, dict) else {}
                chosen: dict[str, MetadataField] = {}
                for item in change.values:
                    field = fields[str(parse_uuid(item.metadata_id))]
                    values[field.name] = item.value
                    chosen[field.id] = field
                current[document_id] = values
                await store.set_doc_metadata(conn, document_id, values)
                bound = await store.bound_ids(conn, document_id)
                if not change.partial:
                    await store.unbind_all(conn, document_id)
                    bound = set()
                await store.bind(
                    conn,
                    document_id,
                    [m for m in chosen if m not in bound],
                    created_by=OWNER_ID,
                    created_at=now,
                )

    @staticmethod
    async def _field(conn: AsyncConnection, dataset_id: str, metadata_id: str) -> MetadataField:
        found = await store.field(conn, dataset_id, metadata_id, lock=True)
        if found is None:
            raise NotFound(METADATA_NOT_FOUND)
        return found
