"""Knowledge records and the seam between document indexing and retrieval.

The indexing pipeline (parse, clean, split) owns datasets, documents and segments; the search side
owns its index tables and implements :class:`SegmentIndexer`. The pipeline calls the indexer with
the segments of one document once they are written (still invisible: their document is not
``completed`` yet), and marks the document ``completed`` only after ``index`` returned. When any
step fails, the pipeline calls ``remove`` for the segments it had handed over and deletes them,
so a failed document leaves nothing half-indexed.

Rules for implementations:

* ``index`` is an upsert by segment id: a job retried after a crash hands the same segments again.
* ``remove`` ignores ids it does not know.
* Enabling, disabling or archiving a document or a segment does not call the indexer: searches
  keep only segments whose segment and document are enabled, whose document is not archived and
  whose ``indexing_status`` is ``completed`` (they join the store's segment and document tables).
* ``drop_dataset`` removes everything indexed for the dataset (the dataset is being deleted).
* A failure raises; its message is shown to API clients in ``indexing-status``, so keep it short
  and free of secrets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

# ``indexing_technique`` values.
HIGH_QUALITY = "high_quality"
ECONOMY = "economy"


@dataclass(frozen=True, slots=True)
class DatasetRecord:
    """A dataset (knowledge base) as stored."""

    id: str
    name: str
    description: str
    # "vendor" or "external".
    provider: str
    permission: str
    # None until the first document arrives, then "upload_file".
    data_source_type: str | None
    # "high_quality", "economy" or None until the first document sets it.
    indexing_technique: str | None
    embedding_model: str | None
    embedding_model_provider: str | None
    # The stored retrieval settings (§9 shape) or None for the defaults.
    retrieval_model: dict[str, Any] | None
    summary_index_setting: dict[str, Any] | None
    # The chunk structure once a document fixed it ("text_model", ...).
    doc_form: str | None
    enable_api: bool
    partial_member_list: list[str]
    external_knowledge_id: str | None
    external_knowledge_api_id: str | None
    external_retrieval_model: dict[str, Any] | None
    created_by: str
    created_at: datetime
    updated_by: str | None
    updated_at: datetime
    # Documents show the built-in metadata fields too (``BUILT_IN_FIELDS``).
    built_in_field_enabled: bool = False


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    """One chunk of a document, as stored and as handed to the indexer."""

    id: str
    dataset_id: str
    document_id: str
    # 1-based order inside the document.
    position: int
    content: str
    # The answer of a Q&A segment; None otherwise.
    answer: str | None
    keywords: list[str]
    word_count: int
    tokens: int
    # The id of the segment's index entry and the hash of the text it was built from.
    index_node_id: str
    index_node_hash: str
    hit_count: int
    enabled: bool
    disabled_at: datetime | None
    disabled_by: str | None
    # "waiting", "indexing", "completed", "error" or "re_segment".
    status: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    updated_by: str | None
    indexing_at: datetime | None
    completed_at: datetime | None
    error: str | None
    stopped_at: datetime | None
    child_chunks: list[Any] = field(default_factory=list)


class SegmentIndexer(Protocol):
    """Makes segments searchable and forgets them again (see the module docstring)."""

    async def index(self, dataset: DatasetRecord, segments: Sequence[SegmentRecord]) -> None: ...

    async def remove(self, dataset_id: str, segment_ids: Sequence[str]) -> None: ...

    async def drop_dataset(self, dataset_id: str) -> None: ...


class NoIndexer:
    """An indexer that keeps nothing: the pipeline runs to ``completed`` without a search side."""

    async def index(self, dataset: DatasetRecord, segments: Sequence[SegmentRecord]) -> None:
        return None

    async def remove(self, dataset_id: str, segment_ids: Sequence[str]) -> None:
        return None

    async def drop_dataset(self, dataset_id: str) -> None:
        return None


# The stored ``indexing_status`` values, in the order a run moves through them.
WAITING = "waiting"
PARSING = "parsing"
CLEANING = "cleaning"
SPLITTING = "splitting"
INDEXING = "indexing"
COMPLETED = "completed"
ERROR = "error"
IN_PROGRESS = frozenset({WAITING, PARSING, CLEANING, SPLITTING, INDEXING})


@dataclass(frozen=True, slots=True)
class DatasetFileRecord:
    """The bytes a document is read from: an upload, or the text of create-by-text."""

    id: str
    dataset_id: str
    name: str
    size: int
    extension: str
    mime_type: str
    storage_key: str
    hash: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ProcessRuleRecord:
    id: str
    dataset_id: str
    # "automatic", "custom" or "hierarchical".
    mode: str
    rules: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    id: str
    dataset_id: str
    position: int
    data_source_type: str
    file_id: str | None
    process_rule_id: str | None
    batch: str
    name: str
    created_from: str
    created_by: str
    tokens: int | None
    word_count: int | None
    indexing_status: str
    processing_started_at: datetime | None
    parsing_completed_at: datetime | None
    cleaning_completed_at: datetime | None
    splitting_completed_at: datetime | None
    completed_at: datetime | None
    indexing_latency: float | None
    error: str | None
    stopped_at: datetime | None
    paused_at: datetime | None
    enabled: bool
    disabled_at: datetime | None
    disabled_by: str | None
    archived: bool
    doc_type: str | None
    doc_metadata: Any
    doc_form: str
    doc_language: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def display_status(self) -> str:
        """What lists and filters call the document's state."""
        if self.indexing_status == WAITING:
            return "queuing"
        if self.indexing_status in IN_PROGRESS:
            return "paused" if self.paused_at is not None else "indexing"
        if self.indexing_status == ERROR:
            return "error"
        if self.archived:
            return "archived"
        return "available" if self.enabled else "disabled"


@dataclass(frozen=True, slots=True)
class DocumentView:
    """A document with what its wire shapes add: its file, its rules and its segment totals."""

    document: DocumentRecord
    file: DatasetFileRecord | None
    hit_count: int = 0
    segment_count: int = 0
    average_segment_length: int = 0
    completed_segments: int = 0
    rule: ProcessRuleRecord | None = None
    dataset_rule: ProcessRuleRecord | None = None
    # The metadata fields bound to the document, with their values.
    metadata: tuple[MetadataValue, ...] = ()
    # Whether its dataset shows the built-in fields as well.
    built_in_fields: bool = False


@dataclass(frozen=True, slots=True)
class DatasetView:
    """A dataset with its counts, as its wire shape shows them."""

    dataset: DatasetRecord
    document_count: int = 0
    word_count: int = 0
    available_documents: int = 0
    # The first document's ``doc_form`` when the dataset has none of its own.
    first_doc_form: str | None = None
    app_count: int = 0
    tags: tuple[TagRecord, ...] = ()
    metadata_fields: tuple[MetadataField, ...] = ()


# -- tags and metadata ------------------------------------------------------------------------

# The built-in metadata fields (name, type) a dataset may switch on, in the order Dify lists them.
BUILT_IN_FIELDS: tuple[tuple[str, str], ...] = (
    ("document_name", "string"),
    ("uploader", "string"),
    ("upload_date", "time"),
    ("last_update_date", "time"),
    ("source", "string"),
)
BUILT_IN_ID = "built-in"
METADATA_TYPES = ("string", "number", "time")


@dataclass(frozen=True, slots=True)
class TagRecord:
    """A tag (type ``knowledge``); ``binding_count``: the datasets it is bound to that the caller sees."""

    id: str
    name: str
    binding_count: int = 0


@dataclass(frozen=True, slots=True)
class MetadataField:
    """A dataset's metadata field; ``count``: how many documents carry it."""

    id: str
    dataset_id: str
    type: str
    name: str
    count: int = 0


@dataclass(frozen=True, slots=True)
class MetadataValue:
    """One field a document carries, and its value (None when unset)."""

    id: str
    name: str
    type: str
    value: Any
