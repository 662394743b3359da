"""Datasets, documents and segments as the Knowledge API shows them, keys in the contract's order."""

from __future__ import annotations

import calendar
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NotRequired, TypeVar

from typing_extensions import TypedDict

from difychat.server.api.wire import knowledge_meta as meta
from difychat.server.api.wire.common import seconds
from difychat.server.api.wire.knowledge_meta import DatasetMetadataField, DatasetTag, DocumentMetadataItem
from difychat.server.domain.knowledge import (
    ECONOMY,
    DatasetFileRecord,
    DatasetView,
    DocumentView,
    ProcessRuleRecord,
    SegmentRecord,
)
from difychat.server.domain.paging import NumberedPage
from difychat.server.services.knowledge import OWNER_NAME
from difychat.server.services.knowledge.rules import AUTOMATIC_RULES, CONSOLE_DEFAULT

Item = TypeVar("Item")


class ExternalKnowledgeInfo(TypedDict):
    external_knowledge_id: str | None
    external_knowledge_api_id: str | None
    external_knowledge_api_name: None
    external_knowledge_api_endpoint: None


class Dataset(TypedDict):
    """A dataset; ``partial_member_list`` only in the single dataset, when it matters."""

    id: str
    name: str
    description: str
    provider: str
    permission: str
    data_source_type: str | None
    indexing_technique: str | None
    app_count: int
    document_count: int
    word_count: int
    created_by: str
    author_name: str
    created_at: int
    updated_by: str | None
    updated_at: int
    embedding_model: str | None
    embedding_model_provider: str | None
    embedding_available: bool
    retrieval_model_dict: dict[str, Any]
    summary_index_setting: dict[str, Any]
    tags: list[DatasetTag]
    doc_form: str | None
    external_knowledge_info: ExternalKnowledgeInfo
    external_retrieval_model: dict[str, Any]
    doc_metadata: list[DatasetMetadataField]
    built_in_field_enabled: bool
    pipeline_id: None
    runtime_mode: str
    chunk_structure: None
    icon_info: dict[str, Any]
    is_published: bool
    total_documents: int
    total_available_documents: int
    enable_api: bool
    is_multimodal: bool
    partial_member_list: NotRequired[list[str]]


class DatasetPage(TypedDict):
    data: list[Dataset]
    has_more: bool
    limit: int
    total: int
    page: int


class Document(TypedDict):
    """A document as lists and create/update answers show it."""

    id: str
    position: int
    data_source_type: str
    data_source_info: dict[str, Any]
    data_source_detail_dict: dict[str, Any]
    dataset_process_rule_id: str | None
    name: str
    created_from: str
    created_by: str
    created_at: int
    tokens: int | None
    indexing_status: str
    error: str | None
    enabled: bool
    disabled_at: int | None
    disabled_by: str | None
    archived: bool
    display_status: str
    word_count: int | None
    hit_count: int
    doc_form: str
    doc_metadata: list[DocumentMetadataItem] | None
    summary_index_status: None
    need_summary: bool


class DocumentPage(TypedDict):
    data: list[Document]
    has_more: bool
    limit: int
    total: int
    page: int


class DocumentDetail(TypedDict):
    """One document (``metadata`` ``all``; ``without`` leaves out ``doc_type`` and ``doc_metadata``)."""

    id: str
    position: int
    data_source_type: str
    data_source_info: dict[str, Any]
    dataset_process_rule_id: str | None
    dataset_process_rule: dict[str, Any]
    document_process_rule: dict[str, Any]
    name: str
    created_from: str
    created_by: str
    created_at: int
    tokens: int | None
    indexing_status: str
    completed_at: int | None
    updated_at: int
    indexing_latency: float | None
    error: str | None
    enabled: bool
    disabled_at: int | None
    disabled_by: str | None
    archived: bool
    doc_type: NotRequired[str | None]
    doc_metadata: NotRequired[list[DocumentMetadataItem] | None]
    segment_count: int
    average_segment_length: int
    hit_count: int
    display_status: str
    doc_form: str
    doc_language: str | None
    summary_index_status: None
    need_summary: bool


class DocumentMetadata(TypedDict):
    """One document with ``metadata=only``."""

    id: str
    doc_type: str | None
    doc_metadata: list[DocumentMetadataItem] | None


class DocumentSubmitted(TypedDict):
    document: Document
    batch: str


class IndexingProgress(TypedDict):
    id: str
    indexing_status: str
    processing_started_at: int | None
    parsing_completed_at: int | None
    cleaning_completed_at: int | None
    splitting_completed_at: int | None
    completed_at: int | None
    paused_at: int | None
    error: str | None
    stopped_at: int | None
    completed_segments: int
    total_segments: int


class IndexingStatus(TypedDict):
    data: list[IndexingProgress]


class Segment(TypedDict):
    id: str
    position: int
    document_id: str
    content: str
    sign_content: str
    answer: str | None
    word_count: int
    tokens: int
    keywords: list[str]
    index_node_id: str
    index_node_hash: str
    hit_count: int
    enabled: bool
    disabled_at: int | None
    disabled_by: str | None
    status: str
    created_by: str
    created_at: int
    updated_at: int
    updated_by: str | None
    indexing_at: int | None
    completed_at: int | None
    error: str | None
    stopped_at: int | None
    child_chunks: list[Any]
    attachments: list[Any]
    summary: None


class SegmentPage(TypedDict):
    data: list[Segment]
    doc_form: str
    total: int
    has_more: bool
    limit: int
    page: int


class Segments(TypedDict):
    data: list[Segment]
    doc_form: str


class OneSegment(TypedDict):
    data: Segment
    doc_form: str


def _opt_seconds(value: datetime | None) -> int | None:
    return None if value is None else seconds(value)


def _float_seconds(value: datetime) -> float:
    return calendar.timegm(value.utctimetuple()) + value.microsecond / 1_000_000


def numbered_page(page: NumberedPage[Item], item: Callable[[Item], dict[str, Any]]) -> dict[str, Any]:
    """``{"data", "has_more", "limit", "total", "page"}``: datasets' and documents' lists."""
    return {
        "data": [item(each) for each in page.data],
        "has_more": page.page * page.limit < page.total,
        "limit": page.limit,
        "total": page.total,
        "page": page.page,
    }


# -- datasets -------------------------------------------------------------------------------------


def plugin_provider(provider: str | None) -> str | None:
    """``openai`` as ``langgenius/openai/openai``; a provider already in that form as it is."""
    if not provider or "/" in provider:
        return provider
    return f"langgenius/{provider}/{provider}"


def retrieval_model_dict(stored: dict[str, Any] | None, technique: str | None) -> dict[str, Any]:
    found = {
        "search_method": "semantic_search",
        "reranking_enable": False,
        "reranking_mode": None,
        "reranking_model": {"reranking_provider_name": "", "reranking_model_name": ""},
        "weights": None,
        "top_k": 2,
        "score_threshold_enabled": False,
        "score_threshold": None,
    }
    if stored:
        found.update(stored)
    if technique == ECONOMY:
        found["search_method"] = "keyword_search"
    return found


def _summary_setting(stored: dict[str, Any] | None) -> dict[str, Any]:
    stored = stored or {}
    return {k: stored.get(k) for k in ("enable", "model_name", "model_provider_name", "summary_prompt")}


def dataset(view: DatasetView, *, listing: bool = False) -> dict[str, Any]:
    d = view.dataset
    external = d.external_retrieval_model or {}
    return {
        "id": d.id,
        "name": d.name,
        "description": d.description,
        "provider": d.provider,
        "permission": d.permission,
        "data_source_type": d.data_source_type,
        "indexing_technique": d.indexing_technique,
        "app_count": view.app_count,
        "document_count": view.document_count,
        "word_count": view.word_count,
        "created_by": d.created_by,
        "author_name": OWNER_NAME,
        "created_at": seconds(d.created_at),
        "updated_by": d.updated_by,
        "updated_at": seconds(d.updated_at),
        "embedding_model": d.embedding_model,
        "embedding_model_provider": (
            plugin_provider(d.embedding_model_provider) if listing else d.embedding_model_provider
        ),
        "embedding_available": True,
        "retrieval_model_dict": retrieval_model_dict(d.retrieval_model, d.indexing_technique),
        "summary_index_setting": _summary_setting(d.summary_index_setting),
        "tags": meta.dataset_tags(view.tags),
        "doc_form": d.doc_form or view.first_doc_form,
        "external_knowledge_info": {
            "external_knowledge_id": d.external_knowledge_id,
            "external_knowledge_api_id": d.external_knowledge_api_id,
            "external_knowledge_api_name": None,
            "external_knowledge_api_endpoint": None,
        },
        "external_retrieval_model": {
            "top_k": external.get("top_k", 2),
            "score_threshold": external.get("score_threshold", 0.0),
            "score_threshold_enabled": external.get("score_threshold_enabled"),
        },
        "doc_metadata": meta.dataset_metadata(view.metadata_fields, d.built_in_field_enabled),
        "built_in_field_enabled": d.built_in_field_enabled,
        "pipeline_id": None,
        "runtime_mode": "general",
        "chunk_structure": None,
        "icon_info": {"icon_type": None, "icon": None, "icon_background": None, "icon_url": None},
        "is_published": False,
        "total_documents": view.document_count,
        "total_available_documents": view.available_documents,
        "enable_api": d.enable_api,
        "is_multimodal": False,
    }


def dataset_detail(view: DatasetView, *, with_members: bool) -> dict[str, Any]:
    """The single dataset: ``partial_member_list`` appended when it matters (or after a PATCH)."""
    body = dataset(view)
    if with_members:
        body["partial_member_list"] = list(view.dataset.partial_member_list)
    return body


# -- documents ------------------------------------------------------------------------------------


def _upload_file(file: DatasetFileRecord) -> dict[str, Any]:
    return {
        "id": file.id,
        "name": file.name,
        "size": file.size,
        "extension": file.extension,
        "mime_type": file.mime_type,
        "created_by": file.created_by,
        "created_at": _float_seconds(file.created_at),
    }


def _source_info(view: DocumentView) -> dict[str, Any]:
    return {"upload_file_id": view.file.id} if view.file else {}


def _source_detail(view: DocumentView) -> dict[str, Any]:
    return {"upload_file": _upload_file(view.file)} if view.file else {}


def _doc_metadata(view: DocumentView) -> list[dict[str, Any]] | None:
    return meta.document_metadata(view.document, view.metadata, view.built_in_fields)


def document(view: DocumentView) -> dict[str, Any]:
    """The document shape of lists and create/update answers."""
    d = view.document
    return {
        "id": d.id,
        "position": d.position,
        "data_source_type": d.data_source_type,
        "data_source_info": _source_info(view),
        "data_source_detail_dict": _source_detail(view),
        "dataset_process_rule_id": d.process_rule_id,
        "name": d.name,
        "created_from": d.created_from,
        "created_by": d.created_by,
        "created_at": seconds(d.created_at),
        "tokens": d.tokens,
        "indexing_status": d.indexing_status,
        "error": d.error,
        "enabled": d.enabled,
        "disabled_at": _opt_seconds(d.disabled_at),
        "disabled_by": d.disabled_by,
        "archived": d.archived,
        "display_status": d.display_status,
        "word_count": d.word_count,
        "hit_count": view.hit_count,
        "doc_form": d.doc_form,
        "doc_metadata": _doc_metadata(view),
        "summary_index_status": None,
        "need_summary": False,
    }


def _rule(rule: ProcessRuleRecord | None) -> dict[str, Any]:
    if rule is None:
        return {}
    rules = AUTOMATIC_RULES if rule.mode == "automatic" or rule.rules is None else rule.rules
    return {"mode": rule.mode, "rules": rules}


def document_detail(view: DocumentView, metadata: str) -> dict[str, Any]:
    """GET one document: ``metadata`` is ``all``, ``only`` or ``without``."""
    d = view.document
    if metadata == "only":
        return {"id": d.id, "doc_type": d.doc_type, "doc_metadata": _doc_metadata(view)}
    body: dict[str, Any] = {
        "id": d.id,
        "position": d.position,
        "data_source_type": d.data_source_type,
        "data_source_info": _source_detail(view),
        "dataset_process_rule_id": d.process_rule_id,
        "dataset_process_rule": _rule(view.dataset_rule) if view.dataset_rule else CONSOLE_DEFAULT,
        "document_process_rule": _rule(view.rule),
        "name": d.name,
        "created_from": d.created_from,
        "created_by": d.created_by,
        "created_at": seconds(d.created_at),
        "tokens": d.tokens,
        "indexing_status": d.indexing_status,
        "completed_at": _opt_seconds(d.completed_at),
        "updated_at": seconds(d.updated_at),
        "indexing_latency": d.indexing_latency,
        "error": d.error,
        "enabled": d.enabled,
        "disabled_at": _opt_seconds(d.disabled_at),
        "disabled_by": d.disabled_by,
        "archived": d.archived,
        "doc_type": d.doc_type,
        "doc_metadata": _doc_metadata(view),
        "segment_count": view.segment_count,
        "average_segment_length": view.average_segment_length,
        "hit_count": view.hit_count,
        "display_status": d.display_status,
        "doc_form": d.doc_form,
        "doc_language": d.doc_language,
        "summary_index_status": None,
        "need_summary": False,
    }
    if metadata == "without":
        del body["doc_type"], body["doc_metadata"]
    return body


def submitted(view: DocumentView, batch: str) -> dict[str, Any]:
    return {"document": document(view), "batch": batch}


def indexing_status(views: Sequence[DocumentView]) -> dict[str, Any]:
    return {
        "data": [
            {
                "id": v.document.id,
                "indexing_status": v.document.indexing_status,
                "processing_started_at": _opt_seconds(v.document.processing_started_at),
                "parsing_completed_at": _opt_seconds(v.document.parsing_completed_at),
                "cleaning_completed_at": _opt_seconds(v.document.cleaning_completed_at),
                "splitting_completed_at": _opt_seconds(v.document.splitting_completed_at),
                "completed_at": _opt_seconds(v.document.completed_at),
                "paused_at": _opt_seconds(v.document.paused_at),
                "error": v.document.error,
                "stopped_at": _opt_seconds(v.document.stopped_at),
                "completed_segments": v.completed_segments,
                "total_segments": v.segment_count,
            }
            for v in views
        ]
    }


# -- segments -------------------------------------------------------------------------------------


def segment(s: SegmentRecord) -> dict[str, Any]:
    return {
        "id": s.id,
        "position": s.position,
        "document_id": s.document_id,
        "content": s.content,
        "sign_content": s.content,
        "answer": s.answer,
        "word_count": s.word_count,
        "tokens": s.tokens,
        "keywords": list(s.keywords),
        "index_node_id": s.index_node_id,
        "index_node_hash": s.index_node_hash,
        "hit_count": s.hit_count,
        "enabled": s.enabled,
        "disabled_at": _opt_seconds(s.disabled_at),
        "disabled_by": s.disabled_by,
        "status": s.status,
        "created_by": s.created_by,
        "created_at": seconds(s.created_at),
        "updated_at": seconds(s.updated_at),
        "updated_by": s.updated_by,
        "indexing_at": _opt_seconds(s.indexing_at),
        "completed_at": _opt_seconds(s.completed_at),
        "error": s.error,
        "stopped_at": _opt_seconds(s.stopped_at),
        "child_chunks": list(s.child_chunks),
        "attachments": [],
        "summary": None,
    }


def segment_page(page: NumberedPage[SegmentRecord], doc_form: str) -> dict[str, Any]:
    return {
        "data": [segment(s) for s in page.data],
        "doc_form": doc_form,
        "total": page.total,
        "has_more": page.page * page.limit < page.total,
        "limit": page.limit,
        "page": page.page,
    }


def segments(items: Sequence[SegmentRecord], doc_form: str) -> dict[str, Any]:
    return {"data": [segment(s) for s in items], "doc_form": doc_form}


def one_segment(item: SegmentRecord, doc_form: str) -> dict[str, Any]:
    return {"data": segment(item), "doc_form": doc_form}
