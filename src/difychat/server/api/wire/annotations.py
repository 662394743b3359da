"""Annotations (``/apps/annotations``) and annotation reply jobs (``/apps/annotation-reply``)."""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict

from difychat.server.api.wire.common import seconds
from difychat.server.domain.paging import NumberedPage
from difychat.server.domain.records import Annotation as AnnotationRecord
from difychat.server.domain.records import AnnotationJob


class Annotation(TypedDict):
    id: str
    question: str
    answer: str
    hit_count: int
    created_at: int


class AnnotationPage(TypedDict):
    data: list[Annotation]
    has_more: bool
    limit: int
    total: int
    page: int


class AnnotationJobStarted(TypedDict):
    job_id: str
    job_status: str


class AnnotationJobStatus(TypedDict):
    job_id: str
    job_status: str
    error_msg: str


def annotation(item: AnnotationRecord) -> dict[str, Any]:
    return {
        "id": item.id,
        "question": item.question,
        "answer": item.answer,
        "hit_count": item.hit_count,
        "created_at": seconds(item.created_at),
    }


def annotation_page(page: NumberedPage[AnnotationRecord]) -> dict[str, Any]:
    """As Dify computes it, ``has_more`` means a full page (of the size asked for) came back."""
    data = [annotation(item) for item in page.data]
    return {
        "data": data,
        "has_more": len(data) == page.limit,
        "limit": page.limit,
        "total": page.total,
        "page": page.page,
    }


def job_started(job_id: str, status: str) -> dict[str, Any]:
    return {"job_id": job_id, "job_status": status}


def job_status(job: AnnotationJob) -> dict[str, Any]:
    return {"job_id": job.id, "job_status": job.status, "error_msg": job.error_msg}
