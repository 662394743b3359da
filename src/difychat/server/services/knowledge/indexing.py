"""The indexing worker: takes durable jobs, and runs each document through parse, clean, split and
index, so that no document sits silently in ``waiting`` or ``indexing``.

Jobs and leases
    A job row per document (``store/indexing_jobs.py``). Any server process runs a worker; a worker
    claims a ``waiting`` job that is due, or a ``running`` job whose lease (heartbeat) ran out
    because its worker died. While it runs a job it renews the lease every ``heartbeat`` seconds,
    and each of its writes starts by renewing it: when the job was replaced (a new upload of the
    document), deleted (the document was) or taken over, the run stops without writing. A lease is
    held by one attempt, not by its worker: a worker whose writes stalled past its lease may claim
    its own job again, and the attempt still running then stops like any other.

Attempts
    Each claim counts an attempt. A file that cannot be read fails at once (it would fail again);
    any other failure (the indexer, storage, the database) is retried after a back-off until
    ``max_attempts``, the document showing ``waiting`` and the error meanwhile. A job claimed past
    its budget (its workers kept dying) fails. Failed documents show ``error`` with the step and the
    cause, and keep no segments; re-uploading the document (or ``difychat datasets retry``) runs it
    again.

Restarts
    A clean shutdown hands its running jobs back (``waiting``, the attempt not counted); a crash
    leaves them ``running`` until their lease runs out. Either way the next worker resumes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from difychat.server.documents import bounded
from difychat.server.documents.bounded import Caps, DocumentError
from difychat.server.documents.chunking import clean, count_tokens, split
from difychat.server.documents.sandbox import extract_in_child
from difychat.server.domain.knowledge import (
    CLEANING,
    COMPLETED,
    ERROR,
    INDEXING,
    PARSING,
    SPLITTING,
    WAITING,
    DatasetRecord,
    SegmentIndexer,
    SegmentRecord,
)
from difychat.server.files.storage import FileStorage, read_all
from difychat.server.services.knowledge import OWNER_ID
from difychat.server.services.knowledge.rules import chunk_rules
from difychat.server.store import datasets as dataset_store
from difychat.server.store import documents as document_store
from difychat.server.store import indexing_jobs as job_store
from difychat.server.store import segments as segment_store
from difychat.server.store.common import new_id, utcnow
from difychat.server.store.indexing_jobs import Claim

logger = logging.getLogger("difychat.knowledge.indexing")

# Segments handed to the indexer at once; progress is recorded after each batch.
INDEX_BATCH = 64
ERROR_MAX = 2000


@dataclass(frozen=True, slots=True)
class IndexingSettings:
    concurrency: int = 2
    heartbeat_seconds: float = 5.0
    lease_seconds: float = 30.0
    # How often to look for jobs other processes queued (this process's own wake it at once).
    poll_seconds: float = 1.0
    max_attempts: int = 3
    retry_base_seconds: float = 2.0
    parse_timeout: float = 120.0
    parse_memory_bytes: int = 1024 * 1024 * 1024
    max_file_bytes: int = 15 * 1024 * 1024
    caps: Caps = Caps()


class _Superseded(Exception):
    """The job is no longer this worker's: replaced, deleted, or taken over."""


class _Failed(Exception):
    """A failure that trying again would repeat (an unreadable file, a cap)."""


# How long a shutdown waits for the running jobs to stop.
STOP_SECONDS = 10.0


class IndexingWorker:
    def __init__(
        self, engine: AsyncEngine, storage: FileStorage, indexer: SegmentIndexer, settings: IndexingSettings
    ) -> None:
        if settings.lease_seconds <= settings.heartbeat_seconds:
            raise ValueError("a lease must outlast several heartbeats")
        self.worker_id = new_id()
        self._engine = engine
        self._storage = storage
        self._indexer = indexer
        self._settings = settings
        self._lease = timedelta(seconds=settings.lease_seconds)
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(max(1, settings.concurrency))
        # Set at shutdown: a run that fails now fails because it was stopped, not on its document.
        self.stopping = False

    def wake(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._loop_task = asyncio.get_running_loop().create_task(self._loop(), name="indexing-worker")

    async def stop(self) -> None:
        """Stop taking jobs, stop the running ones and hand them back for the next worker."""
        self.stopping = True
        tasks = [t for t in (self._loop_task, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            # A run that does not end within the bound is left behind (its job goes back below).
            await asyncio.wait(tasks, timeout=STOP_SECONDS)
        with contextlib.suppress(Exception):
            async with self._engine.begin() as conn:
                await job_store.release(conn, self.worker_id, utcnow())

    async def _loop(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                claim = await self._claim()
            except Exception:
                logger.warning("claiming an indexing job failed; retrying", exc_info=True)
                claim = None
            if claim is None:
                self._slots.release()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._settings.poll_seconds):
                        await self._wake.wait()
                continue
            task = asyncio.get_running_loop().create_task(
                self._guarded(claim), name=f"indexing-{claim.document_id}"
            )
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _claim(self) -> Claim | None:
        now = utcnow()
        # Most polls find nothing: they only read, never waiting for the write lock beside the
        # chat path's writes.
        async with self._engine.connect() as conn:
            if not await job_store.any_due(conn, now, self._lease):
                return None
        async with self._engine.begin() as conn:
            return await job_store.claim(conn, self.worker_id, now, self._lease)

    async def _guarded(self, claim: Claim) -> None:
        try:
            await _Run(self, claim).run()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("indexing document %s failed unexpectedly", claim.document_id)
        finally:
            self._slots.release()

    # What a run needs of its worker.

    @property
    def settings(self) -> IndexingSettings:
        return self._settings

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    @property
    def storage(self) -> FileStorage:
        return self._storage

    @property
    def indexer(self) -> SegmentIndexer:
        return self._indexer


class _Run:
    """One attempt at one job."""

    def __init__(self, worker: IndexingWorker, claim: Claim) -> None:
        self._worker = worker
        self._claim = claim
        self._settings = worker.settings
        self._engine = worker.engine
        self._step = PARSING
        # Segment ids handed to the indexer by this run.
        self._handed: list[str] = []
        self._dataset_id = claim.dataset_id

    async def _renew(self, conn: AsyncConnection) -> bool:
        """Extend this attempt's lease; False once the job is no longer this attempt's."""
        claim = self._claim
        return await job_store.renew(conn, claim.id, self._worker.worker_id, claim.attempts, utcnow())

    async def _owned(self, conn: AsyncConnection) -> None:
        if not await self._renew(conn):
            raise _Superseded()

    async def _write(self, **values: Any) -> None:
        async with self._engine.begin() as conn:
            await self._owned(conn)
            await document_store.update_document(conn, self._claim.document_id, **values, updated_at=utcnow())

    async def run(self) -> None:
        beat = asyncio.get_running_loop().create_task(self._heartbeat(asyncio.current_task()))
        try:
            await self._attempt()
        except _Superseded:
            await self._forget_handed()
        except asyncio.CancelledError:
            if beat.done() and beat.exception() is None and beat.result():
                # The heartbeat found the job taken away: this run just stops.
                await self._forget_handed()
                return
            raise
        except (_Failed, DocumentError) as exc:
            if self._worker.stopping:  # stopping the parser made it fail: handed back by stop()
                return
            await self._fail(f"{self._step} failed: {exc}")
        except Exception as exc:
            if self._worker.stopping:
                return
            await self._retry_or_fail(exc)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await beat

    async def _heartbeat(self, run: asyncio.Task[Any] | None) -> bool:
        """Renew the lease while the run works; cancel the run if the job was taken away."""
        while True:
            await asyncio.sleep(self._settings.heartbeat_seconds)
            try:
                async with self._engine.begin() as conn:
                    mine = await self._renew(conn)
            except Exception:
                logger.warning("renewing an indexing lease failed; retrying", exc_info=True)
                continue
            if not mine:
                if run is not None:
                    run.cancel()
                return True

    async def _attempt(self) -> None:
        claim = self._claim
        started = time.monotonic()
        if claim.attempts > claim.max_attempts:
            cause = claim.last_error or "the server process running it stopped"
            await self._fail(f"indexing gave up after {claim.max_attempts} attempts: {cause}")
            return
        async with self._engine.begin() as conn:
            await self._owned(conn)
            document = await document_store.document_by_id(conn, claim.document_id)
            dataset = await dataset_store.dataset(conn, claim.dataset_id)
            if document is None or dataset is None:
                raise _Superseded()
            file = await dataset_store.file(conn, document.file_id)
            rule = await dataset_store.rule(conn, document.process_rule_id)
            old = await segment_store.ids_of_document(conn, document.id)
            now = utcnow()
            await document_store.update_document(
                conn,
                document.id,
                indexing_status=PARSING,
                processing_started_at=now,
                parsing_completed_at=None,
                cleaning_completed_at=None,
                splitting_completed_at=None,
                completed_at=None,
                error=None,
                stopped_at=None,
                updated_at=now,
            )
        if old:
            # A run before this one (an earlier upload, a crashed attempt) left these.
            await self._worker.indexer.remove(dataset.id, old)
            async with self._engine.begin() as conn:
                await self._owned(conn)
                await segment_store.delete_segments(conn, old)
        if file is None:
            raise _Failed("the document's file is missing")
        text = await self._parse(file.storage_key, file.extension)
        await self._write(indexing_status=CLEANING, parsing_completed_at=utcnow())
        self._step = CLEANING
        rules = chunk_rules(rule.mode if rule else None, rule.rules if rule else None)
        cleaned = await asyncio.to_thread(clean, text, rules)
        await self._write(indexing_status=SPLITTING, cleaning_completed_at=utcnow())
        self._step = SPLITTING
        pieces = await asyncio.to_thread(split, cleaned, rules)
        if not pieces:
            raise _Failed("the document has no text to index")
        segments = await self._write_segments(dataset, pieces)
        self._step = INDEXING
        for start in range(0, len(segments), INDEX_BATCH):
            batch = segments[start : start + INDEX_BATCH]
            self._handed.extend(s.id for s in batch)
            await self._worker.indexer.index(dataset, batch)
            async with self._engine.begin() as conn:
                await self._owned(conn)
                await segment_store.mark_completed(conn, [s.id for s in batch], utcnow())
        async with self._engine.begin() as conn:
            await self._owned(conn)
            now = utcnow()
            await document_store.update_document(
                conn,
                claim.document_id,
                indexing_status=COMPLETED,
                completed_at=now,
                tokens=sum(s.tokens for s in segments),
                word_count=sum(s.word_count for s in segments),
                indexing_latency=round(time.monotonic() - started, 3),
                error=None,
                updated_at=now,
            )
            await job_store.finish(conn, claim.id, job_store.COMPLETED, None, now)

    async def _parse(self, key: str, extension: str) -> str:
        settings = self._settings
        data = await read_all(self._worker.storage, key, settings.max_file_bytes + 1)
        if extension in bounded.SANDBOXED:
            return await extract_in_child(
                data,
                extension,
                settings.caps,
                timeout=settings.parse_timeout,
                memory_bytes=settings.parse_memory_bytes,
            )
        return await asyncio.to_thread(bounded.extract, data, extension, settings.caps)

    async def _write_segments(self, dataset: DatasetRecord, pieces: Sequence[str]) -> list[SegmentRecord]:
        now = utcnow()
        segments = [
            SegmentRecord(
                id=new_id(),
                dataset_id=dataset.id,
                document_id=self._claim.document_id,
                position=position,
                content=text,
                answer=None,
                keywords=[],
                word_count=len(text),
                tokens=count_tokens(text),
                index_node_id=new_id(),
                index_node_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                hit_count=0,
                enabled=True,
                disabled_at=None,
                disabled_by=None,
                status=INDEXING,
                created_by=OWNER_ID,
                created_at=now,
                updated_at=now,
                updated_by=None,
                indexing_at=now,
                completed_at=None,
                error=None,
                stopped_at=None,
            )
            for position, text in enumerate(pieces, start=1)
        ]
        async with self._engine.begin() as conn:
            await self._owned(conn)
            await segment_store.insert_segments(conn, [segment_row(s) for s in segments])
            await document_store.update_document(
                conn,
                self._claim.document_id,
                indexing_status=INDEXING,
                splitting_completed_at=now,
                updated_at=now,
            )
        return segments

    async def _forget_handed(self) -> None:
        """Take back from the index what this stopped run handed it (its rows are someone else's
        to delete now)."""
        if self._handed:
            with contextlib.suppress(Exception):
                await self._worker.indexer.remove(self._dataset_id, self._handed)

    async def _discard_segments(self, conn: AsyncConnection) -> None:
        ids = await segment_store.ids_of_document(conn, self._claim.document_id)
        await segment_store.delete_segments(conn, ids)
        self._handed = sorted(set(self._handed) | set(ids))

    async def _fail(self, message: str) -> None:
        message = message[:ERROR_MAX]
        try:
            async with self._engine.begin() as conn:
                await self._owned(conn)
                await self._discard_segments(conn)
                now = utcnow()
                await document_store.update_document(
                    conn,
                    self._claim.document_id,
                    indexing_status=ERROR,
                    error=message,
                    stopped_at=now,
                    updated_at=now,
                )
                await job_store.finish(conn, self._claim.id, job_store.ERROR, message, now)
        except _Superseded:
            pass
        await self._forget_handed()
        logger.warning("indexing document %s: %s", self._claim.document_id, message)

    async def _retry_or_fail(self, exc: Exception) -> None:
        cause = str(exc) or type(exc).__name__
        claim = self._claim
        if claim.attempts >= claim.max_attempts:
            await self._fail(f"{self._step} failed after {claim.attempts} attempts: {cause}")
            return
        delay = self._settings.retry_base_seconds * 2 ** (claim.attempts - 1)
        message = f"{self._step} failed (attempt {claim.attempts} of {claim.max_attempts}, retrying): {cause}"
        message = message[:ERROR_MAX]
        try:
            async with self._engine.begin() as conn:
                await self._owned(conn)
                await self._discard_segments(conn)
                now = utcnow()
                await document_store.update_document(
                    conn, claim.document_id, indexing_status=WAITING, error=message, updated_at=now
                )
                await job_store.retry_later(conn, claim.id, now + timedelta(seconds=delay), message, now)
        except _Superseded:
            pass
        await self._forget_handed()
        logger.warning("indexing document %s: %s", claim.document_id, message)


def segment_row(s: SegmentRecord) -> dict[str, Any]:
    return {
        "id": s.id,
        "dataset_id": s.dataset_id,
        "document_id": s.document_id,
        "position": s.position,
        "content": s.content,
        "answer": s.answer,
        "keywords": s.keywords,
        "word_count": s.word_count,
        "tokens": s.tokens,
        "index_node_id": s.index_node_id,
        "index_node_hash": s.index_node_hash,
        "hit_count": s.hit_count,
        "enabled": s.enabled,
        "disabled_at": s.disabled_at,
        "disabled_by": s.disabled_by,
        "status": s.status,
        "created_by": s.created_by,
        "updated_by": s.updated_by,
        "indexing_at": s.indexing_at,
        "completed_at": s.completed_at,
        "error": s.error,
        "stopped_at": s.stopped_at,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    }
