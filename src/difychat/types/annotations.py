"""Models for annotations (curated question-answer pairs) and annotation-reply jobs."""

from __future__ import annotations

from pydantic import Field

from difychat.types._base import DifyModel, Timestamp

__all__ = ["Annotation", "AnnotationPage", "AnnotationReplyJob"]


class Annotation(DifyModel):
    """A curated answer for a question."""

    id: str
    question: str | None = None
    answer: str | None = None
    hit_count: int | None = None
    created_at: Timestamp | None = None


class AnnotationPage(DifyModel):
    """A page of annotations (offset paging with ``page``/``limit``)."""

    data: list[Annotation] = Field(default_factory=list)
    has_more: bool = False
    limit: int | None = None
    total: int | None = None
    page: int | None = None


class AnnotationReplyJob(DifyModel):
    """The background job that enables or disables annotation reply."""

    job_id: str
    job_status: str | None = None
    error_msg: str | None = None
