"""Documents: submitted by text or file (each submission is an indexing batch), listed, read,
switched on and off, deleted."""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from difychat.server.domain.knowledge import (
    IN_PROGRESS,
    WAITING,
    DatasetRecord,
    DocumentRecord,
    DocumentView,
    SegmentIndexer,
)
from difychat.server.domain.paging import NumberedPage
from difychat.server.errors import (
    DOCUMENT_NOT_EXISTS,
    DOCUMENT_NOT_FOUND,
    DOCUMENTS_NOT_FOUND,
    ArchivedDocumentImmutable,
    InvalidAction,
    InvalidParam,
    NotFound,
)
from difychat.server.services.knowledge import OWNER_ID
from difychat.server.services.knowledge.rules import ProcessRule
from difychat.server.services.knowledge.uploads import DocumentFiles, StoredUpload
from difychat.server.store import datasets as dataset_store
from difychat.server.store import documents as store
from difychat.server.store import indexing_jobs as job_store
from difychat.server.store import metadata_fields as metadata_store
from difychat.server.store import segments as segment_store
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.db import write_transaction
from difychat.server.store.schema import document_segments

logger = logging.getLogger("difychat.knowledge")

DOC_FORMS = ("text_model", "hierarchical_model", "qa_model")
SUPPORTED_DOC_FORMS = ("text_model",)
ACTIONS = ("enable", "disable", "archive", "un_archive")
NAME_MAX = 255


@dataclass(frozen=True, slots=True)
class DocumentOptions:
    """What a create or update request says besides its name, text or file."""

    indexing_technique: str | None = None
    doc_form: str | None = None
    doc_language: str | None = None
    process_rule: ProcessRule | None = None
    retrieval_model: dict[str, Any] | None = None
    embedding_model: str | None = None
    embedding_model_provider: str | None = None
    original_document_id: str | None = None
    duplicate: bool = True


@dataclass(frozen=True, slots=True)
class Submitted:
    document: DocumentView
    batch: str


def new_batch() -> str:
    """The server's local time and six random digits, as Dify names a batch."""
    return datetime.now().strftime("%Y%m%d%H%M%S") + f"{secrets.randbelow(10**6):06d}"


class DocumentService:
    def __init__(
        self,
        engine: AsyncEngine,
        indexer: SegmentIndexer,
        files: DocumentFiles,
        *,
        max_attempts: int,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self._engine = engine
        self._indexer = indexer
        self.files = files
        self._max_attempts = max_attempts
        self._wake = wake

    # -- submissions -----------------------------------------------------------------------------

    async def create_by_text(
        self, dataset: DatasetRecord, name: str, text: str, options: DocumentOptions
    ) -> Submitted:
        name = name[:NAME_MAX]
        upload = await self.files.store_text(dataset.id, name, text)
        return await self._guarded(
            upload,
            lambda: self._submit(dataset, options, upload, name, None, options.doc_form or "text_model"),
        )

    async def create_by_file(
        self, dataset: DatasetRecord, upload: StoredUpload, options: DocumentOptions
    ) -> Submitted:
        return await self._guarded(
            upload, lambda: self._submit(dataset, options, upload, upload.name, None, options.doc_form, True)
        )

    async def update_by_text(
        self,
        dataset: DatasetRecord,
        document_id: str,
        name: str | None,
        text: str | None,
        options: DocumentOptions,
    ) -> Submitted:
        if text is not None and not name:
            raise InvalidParam("name is required when text is provided")
        document = await self._existing(dataset.id, document_id)
        if text is None:
            return await self._resubmit(dataset, document, name, None, options)
        upload = await self.files.store_text(dataset.id, (name or document.name)[:NAME_MAX], text)
        return await self._guarded(
            upload,
            lambda: self._resubmit(dataset, document, (name or document.name)[:NAME_MAX], upload, options),
        )

    async def update_by_file(
        self, dataset: DatasetRecord, document_id: str, upload: StoredUpload | None, options: DocumentOptions
    ) -> Submitted:
        document = await self._existing(dataset.id, document_id)
        if upload is None:
            return await self._resubmit(dataset, document, None, None, options)
        return await self._guarded(
            upload, lambda: self._resubmit(dataset, document, upload.name, upload, options)
        )

    async def _guarded(self, upload: StoredUpload, submit: Callable[[], Awaitable[Submitted]]) -> Submitted:
        """Run the submission; a refused one leaves no file behind."""
        try:
            return await submit()
        except BaseException:
            await self.files.discard(upload.storage_key)
            raise

    async def _existing(self, dataset_id: str, document_id: str) -> DocumentRecord:
        async with self._engine.connect() as conn:
            found = await store.document(conn, dataset_id, document_id)
        if found is None:
            raise NotFound(DOCUMENT_NOT_FOUND)
        return found

    async def _resubmit(
        self,
        dataset: DatasetRecord,
        document: DocumentRecord,
        name: str | None,
        upload: StoredUpload | None,
        options: DocumentOptions,
    ) -> Submitted:
        if upload is None and options.process_rule is None:
            # Only a new name: nothing to index again.
            if name:
                async with self._engine.begin() as conn:
                    await store.update_document(conn, document.id, name=name[:NAME_MAX], updated_at=utcnow())
            return Submitted(await self.view(dataset.id, document.id), document.batch)
        # The document is read again inside the submission (``target`` None): another update of
        # it may have replaced its file since ``document`` was read.
        return await self._submit(
            dataset,
            replace(options, original_document_id=document.id),
            upload,
            name,
            None,
            document.doc_form,
        )

    async def _submit(
        self,
        dataset: DatasetRecord,
        options: DocumentOptions,
        upload: StoredUpload | None,
        name: str | None,
        target: DocumentRecord | None,
        doc_form: str | None,
        rule_required: bool = False,
    ) -> Submitted:
        if dataset.provider == "external":
            raise InvalidParam("External datasets are not supported.")
        now = utcnow()
        batch = new_batch()
        replaced_file: str | None = None
        # One submission of a dataset at a time: the dataset's first technique and model, the
        # documents' positions, and a replaced document's file are read and written together.
        async with write_transaction(self._engine) as conn:
            current = await dataset_store.dataset_for_update(conn, dataset.id)
            if current is None:
                raise NotFound("Dataset not found.")
            changes = self._dataset_changes(current, options)
            form = doc_form or current.doc_form or "text_model"
            if form not in DOC_FORMS:
                raise InvalidParam(f"doc_form must be one of: {', '.join(DOC_FORMS)}")
            if current.doc_form is not None and form != current.doc_form:
                raise InvalidParam("doc_form is different from the dataset doc_form.")
            if form not in SUPPORTED_DOC_FORMS:
                raise InvalidParam(f"doc_form {form} is not supported by this server; use text_model.")
            if current.doc_form is None:
                changes["doc_form"] = form
            if upload is not None:
                await dataset_store.insert_file(
                    conn,
                    id=upload.id,
                    dataset_id=current.id,
                    name=upload.name,
                    size=upload.size,
                    extension=upload.extension,
                    mime_type=upload.mime_type,
                    storage_key=upload.storage_key,
                    hash=upload.hash,
                    created_by=OWNER_ID,
                    created_at=now,
                )
            if target is None and options.original_document_id is not None:
                target = await store.document(conn, current.id, options.original_document_id)
                if target is None:
                    raise NotFound(DOCUMENT_NOT_FOUND)
            if target is None and options.duplicate and name is not None:
                target = await store.reusable_by_name(conn, current.id, name)
            rule_id = await self._rule(conn, current, options, target, rule_required)
            if options.process_rule is not None:
                changes["process_rule_id"] = rule_id
            if current.data_source_type is None:
                changes["data_source_type"] = "upload_file"
            if changes:
                await dataset_store.update_dataset(conn, current.id, **changes, updated_at=now)
            enqueue = functools.partial(
                job_store.enqueue,
                conn,
                dataset_id=current.id,
                batch=batch,
                max_attempts=self._max_attempts,
                now=now,
            )
            if target is None:
                document_id = new_id()
                await store.insert_document(
                    conn,
                    **_fresh(document_id, current.id, await store.next_position(conn, current.id), now),
                    file_id=upload.id if upload else None,
                    process_rule_id=rule_id,
                    batch=batch,
                    name=(name or "")[:NAME_MAX],
                    doc_form=form,
                    doc_language=options.doc_language or "English",
                )
                await enqueue(document_id=document_id)
            else:
                document_id = target.id
                if upload is not None and target.file_id != upload.id:
                    replaced_file = target.file_id
                # The job before the document: the order an indexing worker holds them in (its
                # lease first), or the two transactions would wait on each other (PostgreSQL).
                # A document deleted meanwhile is not found (its new job would refer to nothing).
                await job_store.drop(conn, document_id)
                if not await store.hold(conn, document_id):
                    raise NotFound(DOCUMENT_NOT_FOUND)
                await enqueue(document_id=document_id)
                await store.update_document(
                    conn,
                    document_id,
                    **_restart(now),
                    file_id=upload.id if upload else target.file_id,
                    process_rule_id=rule_id,
                    batch=batch,
                    name=(name or target.name)[:NAME_MAX],
                    doc_language=options.doc_language or target.doc_language,
                )
                # The old segments stay until the new run replaces them, counted by nobody.
                await conn.execute(
                    document_segments.update()
                    .where(document_segments.c.document_id == document_id)
                    .values(status="re_segment")
                )
        # The document as submitted (waiting), read before the worker is told to take it.
        submitted = await self.view(dataset.id, document_id)
        self._wake()
        if replaced_file is not None:
            await self._drop_files([replaced_file])
        return Submitted(submitted, batch)

    def _dataset_changes(self, current: DatasetRecord, options: DocumentOptions) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        technique = options.indexing_technique
        if technique is not None and technique not in ("high_quality", "economy"):
            raise InvalidParam("indexing_technique must be one of: high_quality, economy")
        if current.indexing_technique is None:
            if technique is None:
                raise InvalidParam("indexing_technique is required.")
            changes["indexing_technique"] = technique
            if options.embedding_model is not None:
                changes["embedding_model"] = options.embedding_model
            if options.embedding_model_provider is not None:
                changes["embedding_model_provider"] = options.embedding_model_provider
        if current.retrieval_model is None and options.retrieval_model is not None:
            changes["retrieval_model"] = options.retrieval_model
        return changes

    async def _rule(
        self,
        conn: AsyncConnection,
        dataset: DatasetRecord,
        options: DocumentOptions,
        target: DocumentRecord | None,
        required: bool,
    ) -> str:
        """The process rule of the run: the request's (stored as the dataset's latest), else the
        document's own, else the dataset's latest, else automatic (a file upload needs one)."""
        if options.process_rule is not None:
            rule_id = new_id()
            await dataset_store.insert_rule(
                conn,
                id=rule_id,
                dataset_id=dataset.id,
                mode=options.process_rule.mode,
                rules=options.process_rule.rules,
                created_by=OWNER_ID,
                created_at=utcnow(),
            )
            return rule_id
        if target is not None and target.process_rule_id is not None:
            return target.process_rule_id
        latest = await dataset_store.latest_rule_id(conn, dataset.id)
        if latest is not None:
            return latest
        if required:
            raise InvalidParam("process_rule is required.")
        rule_id = new_id()
        await dataset_store.insert_rule(
            conn,
            id=rule_id,
            dataset_id=dataset.id,
            mode="automatic",
            rules=None,
            created_by=OWNER_ID,
            created_at=utcnow(),
        )
        await dataset_store.update_dataset(conn, dataset.id, process_rule_id=rule_id)
        return rule_id

    # -- reading ---------------------------------------------------------------------------------

    async def view(self, dataset_id: str, document_id: str) -> DocumentView:
        async with self._engine.connect() as conn:
            found = await store.document(conn, dataset_id, document_id)
            if found is None:
                raise NotFound(DOCUMENT_NOT_FOUND)
            return (await self._views(conn, [found], rules=True))[0]

    async def _views(
        self,
        conn: AsyncConnection,
        documents: Sequence[DocumentRecord],
        *,
        rules: bool = False,
        metadata: bool = True,
    ) -> list[DocumentView]:
        files = await dataset_store.files(conn, [d.file_id for d in documents if d.file_id])
        totals = await store.segment_totals(conn, [d.id for d in documents])
        # The indexing status, polled, shows no metadata.
        labels = await metadata_store.document_values(conn, documents) if metadata else {}
        views = []
        for d in documents:
            count, hits, chars, completed = totals.get(d.id, (0, 0, 0, 0))
            view = DocumentView(
                d,
                files.get(d.file_id) if d.file_id else None,
                hit_count=hits,
                segment_count=count,
                average_segment_length=chars // count if count else 0,
                completed_segments=completed,
                metadata=tuple(labels.get(d.id, (False, []))[1]),
                built_in_fields=labels.get(d.id, (False, []))[0],
            )
            if rules:
                view = replace(
                    view,
                    rule=await dataset_store.rule(conn, d.process_rule_id),
                    dataset_rule=await dataset_store.rule(
                        conn, await dataset_store.latest_rule_id(conn, d.dataset_id)
                    ),
                )
            views.append(view)
        return views

    async def listing(
        self, dataset_id: str, *, page: int, limit: int, keyword: str | None, status: str | None
    ) -> NumberedPage[DocumentView]:
        condition = store.display_filter(status) if status else None
        async with self._engine.connect() as conn:
            found, total = await store.list_documents(
                conn, dataset_id, keyword=keyword, status=condition, page=page, limit=limit
            )
            return NumberedPage(await self._views(conn, found), total, page, limit)

    async def get(self, dataset_id: str, document_id: str) -> DocumentView:
        return await self.view(dataset_id, document_id)

    async def indexing_status(self, dataset_id: str, batch: str) -> list[DocumentView]:
        async with self._engine.connect() as conn:
            found = await store.by_batch(conn, dataset_id, batch)
            if not found:
                raise NotFound(DOCUMENTS_NOT_FOUND)
            return await self._views(conn, found, metadata=False)

    # -- changes ---------------------------------------------------------------------------------

    async def delete(self, dataset_id: str, document_id: str) -> None:
        async with self._engine.connect() as conn:
            found = await store.document(conn, dataset_id, document_id)
        if found is None:
            raise NotFound(DOCUMENT_NOT_EXISTS)
        if found.archived:
            raise ArchivedDocumentImmutable()
        await self.remove(found)

    async def remove(self, document: DocumentRecord) -> None:
        """Delete the document, its segments and index entries; its job goes with it, and a worker
        running it stops at its next step."""
        async with write_transaction(self._engine) as conn:
            # The job, then the document (held like an add of segments holds it): the order a
            # worker takes them in. The ids are of the segments deleted.
            await job_store.drop(conn, document.id)
            await store.hold(conn, document.id)
            ids = await segment_store.delete_of_document(conn, document.id)
            await store.delete_document(conn, document.id)
        if ids:
            try:
                await self._indexer.remove(document.dataset_id, ids)
            except Exception:
                logger.warning("removing the index entries of document %s failed", document.id, exc_info=True)
        if document.file_id:
            await self._drop_files([document.file_id])

    async def _drop_files(self, file_ids: Sequence[str]) -> None:
        async with self._engine.begin() as conn:
            unused = await dataset_store.unreferenced_file_keys(conn, file_ids)
            await dataset_store.delete_files(conn, [i for i, _ in unused])
        for _, key in unused:
            await self.files.discard(key)

    async def set_status(self, dataset_id: str, action: str, document_ids: Sequence[str]) -> None:
        if action not in ACTIONS:
            raise InvalidAction(f"Invalid action: {action}.")
        now = utcnow()
        async with self._engine.begin() as conn:
            found = await store.by_ids(conn, dataset_id, document_ids)
            for document in found:
                if document.indexing_status in IN_PROGRESS:
                    raise InvalidAction(f"Document:{document.name} is being indexed, please try again later")
            ids = [d.id for d in found]
            if action == "enable":
                values: dict[str, Any] = {"enabled": True, "disabled_at": None, "disabled_by": None}
            elif action == "disable":
                values = {"enabled": False, "disabled_at": now, "disabled_by": OWNER_ID}
            elif action == "archive":
                values = {"archived": True, "archived_at": now, "archived_by": OWNER_ID}
            else:
                values = {"archived": False, "archived_at": None, "archived_by": None}
            await store.update_documents(conn, ids, **values, updated_at=now)

    async def retry_failed(self, dataset_id: str) -> int:
        """Queue the dataset's failed documents again (``difychat datasets retry``)."""
        now = utcnow()
        async with self._engine.begin() as conn:
            ids = await job_store.requeue_failed(conn, dataset_id, now)
            await store.update_documents(
                conn, ids, indexing_status=WAITING, error=None, stopped_at=None, updated_at=now
            )
        if ids:
            self._wake()
        return len(ids)


def _fresh(document_id: str, dataset_id: str, position: int, now: datetime) -> dict[str, Any]:
    return {
        "id": document_id,
        "dataset_id": dataset_id,
        "position": position,
        "data_source_type": "upload_file",
        "created_from": "api",
        "created_by": OWNER_ID,
        "enabled": True,
        "archived": False,
        "doc_metadata": None,
        "created_at": now,
        **_restart(now),
    }


def _restart(now: datetime) -> dict[str, Any]:
    """A document's indexing fields at the start of a new run."""
    return {
        "indexing_status": WAITING,
        "tokens": None,
        "word_count": None,
        "processing_started_at": None,
        "parsing_completed_at": None,
        "cleaning_completed_at": None,
        "splitting_completed_at": None,
        "completed_at": None,
        "indexing_latency": None,
        "error": None,
        "stopped_at": None,
        "paused_at": None,
        "updated_at": now,
    }
