"""Annotations: CRUD scoped to the key's app, annotation reply jobs, and matching a chat query."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App, AppConfig
from difychat.server.domain.paging import NumberedPage
from difychat.server.domain.records import Annotation, AnnotationJob, ReplySettings
from difychat.server.errors import ANNOTATION_NOT_FOUND, JOB_NOT_EXISTS, InvalidParam, NotFound, ProviderError
from difychat.server.generation.registry import GenerationRegistry
from difychat.server.providers.embeddings import EmbeddingModel
from difychat.server.services.annotation_match import best_match, cosine, lexical_score
from difychat.server.services.models import ModelCatalog
from difychat.server.store import annotations as annotation_store
from difychat.server.store.common import Record, new_id, utcnow
from difychat.server.store.db import write_transaction
from difychat.server.store.paging import page_offset

logger = logging.getLogger("difychat.annotations")

MAX_PAGE = 100
DEFAULT_PAGE_SIZE = 20
# A chat query is compared with at most this many annotations (the newest).
MAX_CANDIDATES = 5000
EMBED_BATCH = 64
OWNER_NAME = "Owner"

Action = Literal["enable", "disable"]


def owner_account_id(app_id: str) -> str:
    """The workspace owner an app key acts as; stable per app."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"difychat:app-owner:{app_id}"))


@dataclass(frozen=True, slots=True)
class AnnotationHit:
    id: str
    answer: str
    account_id: str
    account_name: str
    score: float

    def wire(self) -> dict[str, Any]:
        return {"id": self.id, "account": {"id": self.account_id, "name": self.account_name}}


class AnnotationService:
    def __init__(
        self,
        engine: AsyncEngine,
        registry: GenerationRegistry,
        models: ModelCatalog,
        *,
        cache_seconds: float = 0.0,
    ) -> None:
        self._engine = engine
        self._registry = registry
        self._models = models
        # Each chat turn asks whether reply is on; the answer is reused for cache_seconds per app.
        self._cache_seconds = cache_seconds
        self._cached: dict[str, tuple[ReplySettings | None, float]] = {}

    # --- CRUD -----------------------------------------------------------------------------

    async def list_page(
        self, app: App, *, page: int, limit: int, keyword: str | None
    ) -> NumberedPage[Annotation]:
        """As Dify reads the query: a page below 1 is 1, a size below 1 is the default, and at most
        ``MAX_PAGE`` are read while the size asked for is echoed."""
        page = page if page >= 1 else 1
        limit = limit if limit >= 1 else DEFAULT_PAGE_SIZE
        size = min(limit, MAX_PAGE)
        async with self._engine.connect() as conn:
            found, total = await annotation_store.page(
                conn, app.id, keyword=keyword or None, offset=page_offset(page, size), limit=size
            )
        return NumberedPage(found, total, page, limit)

    async def create(self, app: App, question: str, answer: str) -> Annotation:
        now = utcnow()
        annotation_id = new_id()
        async with self._engine.begin() as conn:
            await annotation_store.insert(
                conn,
                id=annotation_id,
                app_id=app.id,
                question=question,
                answer=answer,
                hit_count=0,
                account_id=owner_account_id(app.id),
                account_name=OWNER_NAME,
                embedding=None,
                embedding_model=None,
                created_at=now,
                updated_at=now,
            )
            created = await annotation_store.get(conn, app.id, annotation_id)
        assert created is not None
        return created

    async def update(self, app: App, annotation_id: str, question: str, answer: str) -> Annotation:
        async with self._engine.begin() as conn:
            changed = await annotation_store.update(
                conn,
                app.id,
                annotation_id,
                question=question,
                answer=answer,
                embedding=None,
                embedding_model=None,
                updated_at=utcnow(),
            )
            updated = await annotation_store.get(conn, app.id, annotation_id) if changed else None
        if updated is None:
            raise NotFound(ANNOTATION_NOT_FOUND)
        return updated

    async def delete(self, app: App, annotation_id: str) -> None:
        async with self._engine.begin() as conn:
            if not await annotation_store.delete(conn, app.id, annotation_id):
                raise NotFound(ANNOTATION_NOT_FOUND)

    # --- annotation reply -----------------------------------------------------------------

    async def settings(self, app: App) -> ReplySettings | None:
        async with self._engine.connect() as conn:
            found = await annotation_store.settings(conn, app.id)
        if self._cache_seconds > 0:
            self._cached[app.id] = (found, time.monotonic())
        return found

    async def recent_settings(self, app: App) -> ReplySettings | None:
        """The settings as read at most ``cache_seconds`` ago (this worker's own changes at once)."""
        cached = self._cached.get(app.id)
        if cached is not None and time.monotonic() - cached[1] < self._cache_seconds:
            return cached[0]
        return await self.settings(app)

    async def start_job(
        self, app: App, action: Action, *, score_threshold: float, provider_name: str, model_name: str
    ) -> tuple[str, str]:
        """``(job_id, job_status)``: a new waiting job, or the app's unfinished one as processing."""
        now = utcnow()
        job_id = new_id()
        # Looked for and started in one transaction that holds the app: an enable and a disable
        # sent at once start one job, and the other is told it is running.
        async with write_transaction(self._engine) as conn:
            await annotation_store.hold_jobs(conn, app.id)
            running = await annotation_store.unfinished_job(conn, app.id)
            if running is not None:
                return running.id, "processing"
            await annotation_store.insert_job(
                conn,
                id=job_id,
                app_id=app.id,
                action=action,
                status="waiting",
                error_msg="",
                score_threshold=score_threshold,
                embedding_provider_name=provider_name,
                embedding_model_name=model_name,
                created_at=now,
                updated_at=now,
            )
        self._registry.spawn(self._run_job(app, job_id, action), f"annotation-{action}-{job_id}")
        return job_id, "waiting"

    async def job_status(self, app: App, action: str, job_id: str) -> AnnotationJob:
        async with self._engine.connect() as conn:
            job = await annotation_store.job(conn, app.id, action, job_id)
        if job is None:
            raise InvalidParam(JOB_NOT_EXISTS)
        return job

    async def _run_job(self, app: App, job_id: str, action: Action) -> None:
        async with self._engine.begin() as conn:
            await annotation_store.set_job_status(conn, job_id, "processing", "", utcnow())
            job = await annotation_store.job(conn, app.id, action, job_id)
        assert job is not None
        try:
            if action == "enable":
                model = self._models.embeddings(app, app.config)
                if model is not None:
                    await self._embed_missing(app.id, model)
            async with self._engine.begin() as conn:
                now = utcnow()
                current = await annotation_store.settings(conn, app.id)
                await annotation_store.save_settings(
                    conn,
                    app.id,
                    id=current.id if current is not None else new_id(),
                    enabled=action == "enable",
                    score_threshold=job.score_threshold,
                    embedding_provider_name=job.embedding_provider_name,
                    embedding_model_name=job.embedding_model_name,
                    updated_at=now,
                )
                if action == "disable":
                    await annotation_store.clear_embeddings(conn, app.id)
                await annotation_store.set_job_status(conn, job_id, "completed", "", now)
            self._cached.pop(app.id, None)
        except Exception as exc:
            logger.exception("annotation reply %s job %s failed", action, job_id)
            message = (
                exc.message
                if isinstance(exc, ProviderError)
                else "Internal Server Error, please contact support."
            )
            async with self._engine.begin() as conn:
                await annotation_store.set_job_status(conn, job_id, "error", message, utcnow())

    # --- matching a chat query ------------------------------------------------------------

    async def match(self, app: App, config: AppConfig, query: str) -> AnnotationHit | None:
        """The annotation that answers ``query`` (its hit counted), if reply is on and one is close enough."""
        settings = await self.recent_settings(app)
        if settings is None or not settings.enabled:
            return None
        async with self._engine.connect() as conn:
            rows = await annotation_store.candidates(conn, app.id, limit=MAX_CANDIDATES)
        if not rows:
            return None
        scored: list[tuple[Record, float]] | None = None
        try:
            model = self._models.embeddings(app, config)
            if model is not None:
                scored = await self._embedding_scores(model, rows, query)
        except ProviderError as exc:
            logger.warning("annotation matching falls back to text similarity: %s", exc.message)
        if scored is None:
            scored = [(row, lexical_score(query, row.question)) for row in rows]
        best = best_match(scored, settings.score_threshold)
        if best is None:
            return None
        row = best.item
        async with self._engine.begin() as conn:
            await annotation_store.count_hit(conn, str(row.id))
        return AnnotationHit(str(row.id), row.answer, str(row.account_id), row.account_name, best.score)

    async def _embedding_scores(
        self, model: EmbeddingModel, rows: list[Record], query: str
    ) -> list[tuple[Record, float]]:
        missing = [row for row in rows if row.embedding is None or row.embedding_model != model.name]
        vectors = await model.embed([query, *(row.question for row in missing)])
        query_vector, fresh = vectors[0], dict(zip((str(r.id) for r in missing), vectors[1:], strict=True))
        if fresh:
            embedded = [(str(r.id), r.question, fresh[str(r.id)]) for r in missing]
            async with self._engine.begin() as conn:
                await annotation_store.set_embeddings(conn, embedded, model.name)
        return [(row, cosine(query_vector, fresh.get(str(row.id)) or row.embedding)) for row in rows]

    async def _embed_missing(self, app_id: str, model: EmbeddingModel) -> None:
        async with self._engine.connect() as conn:
            rows = await annotation_store.without_embedding(conn, app_id, model.name)
        for start in range(0, len(rows), EMBED_BATCH):
            batch = rows[start : start + EMBED_BATCH]
            vectors = await model.embed([row.question for row in batch])
            embedded = [(str(r.id), r.question, v) for r, v in zip(batch, vectors, strict=True)]
            async with self._engine.begin() as conn:
                await annotation_store.set_embeddings(conn, embedded, model.name)
