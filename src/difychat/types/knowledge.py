"""Datasets, documents, segments, tags and metadata of the Knowledge API."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from difychat.types._base import DifyModel, Timestamp

__all__ = [
    "BuiltInMetadataField",
    "Dataset",
    "DatasetPage",
    "DatasetTag",
    "DatasetTags",
    "Document",
    "DocumentMetadata",
    "DocumentPage",
    "DocumentStatus",
    "IndexingStatus",
    "MetadataField",
    "MetadataFields",
    "Segment",
    "SegmentPage",
    "SubmittedDocument",
    "Tag",
]


class DatasetTag(DifyModel):
    """A tag as a dataset (or ``get_dataset_tags``) shows it."""

    id: str
    name: str
    type: str | None = None


class DatasetTags(DifyModel):
    data: list[DatasetTag]
    total: int = 0


class Tag(DifyModel):
    """A tag of type ``knowledge``; ``binding_count``: how many datasets carry it (Dify sends it as
    text in the list, as a number after create and rename; both read as a number here)."""

    id: str
    name: str
    type: str | None = None
    binding_count: int | None = None


class MetadataField(DifyModel):
    """A dataset's metadata field (``string``, ``number`` or ``time``); ``count``: the documents
    carrying it (in ``list_metadata_fields``). Built-in fields have the id ``built-in``."""

    id: str
    name: str
    type: str
    count: int | None = None


class MetadataFields(DifyModel):
    doc_metadata: list[MetadataField]
    built_in_field_enabled: bool = False


class BuiltInMetadataField(DifyModel):
    name: str
    type: str


class DocumentMetadata(DifyModel):
    """A field a document carries, with its value."""

    id: str
    name: str
    type: str | None = None
    value: str | int | float | None = None


class Dataset(DifyModel):
    id: str
    name: str
    description: str | None = None
    provider: str | None = None
    permission: str | None = None
    data_source_type: str | None = None
    indexing_technique: str | None = None
    app_count: int = 0
    document_count: int = 0
    word_count: int = 0
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    embedding_model: str | None = None
    embedding_model_provider: str | None = None
    retrieval_model_dict: dict[str, Any] | None = None
    doc_form: str | None = None
    tags: list[DatasetTag] = Field(default_factory=list)
    doc_metadata: list[MetadataField] = Field(default_factory=list)
    built_in_field_enabled: bool = False
    total_documents: int | None = None
    total_available_documents: int | None = None
    enable_api: bool | None = None


class DatasetPage(DifyModel):
    data: list[Dataset]
    has_more: bool = False
    limit: int = 20
    total: int = 0
    page: int = 1


class Document(DifyModel):
    """A document as lists and submissions show it (GET one adds more fields, kept as extras)."""

    id: str
    position: int | None = None
    data_source_type: str | None = None
    data_source_info: dict[str, Any] | None = None
    name: str
    created_from: str | None = None
    created_at: Timestamp | None = None
    tokens: int | None = None
    indexing_status: str
    error: str | None = None
    enabled: bool = True
    archived: bool = False
    display_status: str | None = None
    word_count: int | None = None
    hit_count: int | None = None
    doc_form: str | None = None
    doc_metadata: list[DocumentMetadata] | None = None
    segment_count: int | None = None


class DocumentPage(DifyModel):
    data: list[Document]
    has_more: bool = False
    limit: int = 20
    total: int = 0
    page: int = 1


class SubmittedDocument(DifyModel):
    """The answer to a create or update: the document and the batch to follow with
    ``indexing_status``/``wait_for_indexing``."""

    document: Document
    batch: str


class DocumentStatus(DifyModel):
    id: str
    indexing_status: str
    processing_started_at: Timestamp | None = None
    parsing_completed_at: Timestamp | None = None
    cleaning_completed_at: Timestamp | None = None
    splitting_completed_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    paused_at: Timestamp | None = None
    error: str | None = None
    stopped_at: Timestamp | None = None
    completed_segments: int = 0
    total_segments: int = 0

    @property
    def finished(self) -> bool:
        """Completed or failed: nothing more will happen to it."""
        return self.indexing_status in ("completed", "error")


class IndexingStatus(DifyModel):
    data: list[DocumentStatus]

    @property
    def finished(self) -> bool:
        return all(item.finished for item in self.data)

    @property
    def failed(self) -> list[DocumentStatus]:
        return [item for item in self.data if item.indexing_status == "error"]


class Segment(DifyModel):
    id: str
    position: int
    document_id: str
    content: str
    answer: str | None = None
    word_count: int | None = None
    tokens: int | None = None
    keywords: list[str] | None = None
    index_node_id: str | None = None
    index_node_hash: str | None = None
    hit_count: int | None = None
    enabled: bool = True
    status: str | None = None
    created_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    error: str | None = None


class SegmentPage(DifyModel):
    data: list[Segment]
    doc_form: str | None = None
    total: int = 0
    has_more: bool = False
    limit: int = 20
    page: int = 1
