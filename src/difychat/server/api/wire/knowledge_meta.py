"""Tags and metadata of the Knowledge API as it shows them, keys in the contract's order."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from typing_extensions import TypedDict

from difychat.server.domain.knowledge import (
    BUILT_IN_FIELDS,
    BUILT_IN_ID,
    DocumentRecord,
    MetadataField,
    MetadataValue,
    TagRecord,
)
from difychat.server.services.knowledge import OWNER_NAME

TAG_TYPE = "knowledge"
# Dify's name for where an uploaded document came from (its ``MetadataDataSource``).
SOURCES = {"upload_file": "file_upload", "website_crawl": "website", "notion_import": "notion"}

MetadataScalar = str | int | float | None


class Tag(TypedDict):
    """A tag. ``binding_count``: a string in the list (Dify's), a number after create and rename."""

    id: str
    name: str
    type: str
    binding_count: str | int


class DatasetTag(TypedDict):
    """A tag as a dataset shows it."""

    id: str
    name: str
    type: str


class BoundTag(TypedDict):
    id: str
    name: str


class BoundTags(TypedDict):
    data: list[BoundTag]
    total: int


class MetadataFieldBody(TypedDict):
    """A metadata field as create and rename answer it."""

    id: str
    type: str
    name: str


class DatasetMetadataField(TypedDict):
    """A metadata field as a dataset shows it (built-in fields with id ``built-in``)."""

    id: str
    name: str
    type: str


class MetadataFieldUsage(TypedDict):
    id: str
    name: str
    type: str
    count: int


class MetadataFields(TypedDict):
    doc_metadata: list[MetadataFieldUsage]
    built_in_field_enabled: bool


class BuiltInField(TypedDict):
    name: str
    type: str


class BuiltInFields(TypedDict):
    fields: list[BuiltInField]


class DocumentMetadataItem(TypedDict):
    """A field a document carries, with its value (built-in values are text)."""

    id: str
    name: str
    type: str
    value: MetadataScalar


# -- tags -----------------------------------------------------------------------------------------


def tag_in_list(tag: TagRecord) -> dict[str, Any]:
    return {"id": tag.id, "name": tag.name, "type": TAG_TYPE, "binding_count": str(tag.binding_count)}


def tag(tag: TagRecord) -> dict[str, Any]:
    return {"id": tag.id, "name": tag.name, "type": TAG_TYPE, "binding_count": tag.binding_count}


def dataset_tags(tags: Sequence[TagRecord]) -> list[dict[str, Any]]:
    return [{"id": t.id, "name": t.name, "type": TAG_TYPE} for t in tags]


def bound_tags(tags: Sequence[TagRecord]) -> dict[str, Any]:
    return {"data": [{"id": t.id, "name": t.name} for t in tags], "total": len(tags)}


# -- metadata -------------------------------------------------------------------------------------


def metadata_field(field: MetadataField) -> dict[str, Any]:
    return {"id": field.id, "type": field.type, "name": field.name}


def metadata_fields(fields: Sequence[MetadataField], built_in_enabled: bool) -> dict[str, Any]:
    return {
        "doc_metadata": [{"id": f.id, "name": f.name, "type": f.type, "count": f.count} for f in fields],
        "built_in_field_enabled": built_in_enabled,
    }


def built_in_fields() -> dict[str, Any]:
    return {"fields": [{"name": name, "type": kind} for name, kind in BUILT_IN_FIELDS]}


def dataset_metadata(fields: Sequence[MetadataField], built_in_enabled: bool) -> list[dict[str, Any]]:
    """A dataset's ``doc_metadata``: its fields, then the built-in ones when they are on."""
    found = [{"id": f.id, "name": f.name, "type": f.type} for f in fields]
    if built_in_enabled:
        found += [{"id": BUILT_IN_ID, "name": name, "type": kind} for name, kind in BUILT_IN_FIELDS]
    return found


def _float_text(value: datetime) -> str:
    return str(calendar.timegm(value.utctimetuple()) + value.microsecond / 1_000_000)


def _built_in_values(document: DocumentRecord) -> list[dict[str, Any]]:
    values: dict[str, Any] = {
        "document_name": document.name,
        "uploader": OWNER_NAME,
        "upload_date": _float_text(document.created_at),
        "last_update_date": _float_text(document.updated_at),
        "source": SOURCES.get(document.data_source_type, document.data_source_type),
    }
    return [{"id": BUILT_IN_ID, "name": n, "type": k, "value": values[n]} for n, k in BUILT_IN_FIELDS]


def document_metadata(
    document: DocumentRecord, values: Sequence[MetadataValue], built_in: bool
) -> list[dict[str, Any]] | None:
    """A document's ``doc_metadata``: the fields it carries, then the built-in ones when its
    dataset shows them; null when there is neither."""
    found = [{"id": v.id, "name": v.name, "type": v.type, "value": v.value} for v in values]
    if built_in:
        found += _built_in_values(document)
    return found or None
