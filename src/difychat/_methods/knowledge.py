"""Datasets, documents and segments of the Knowledge API (``DifyKnowledge``, ``AsyncDifyKnowledge``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from difychat import _knowledge_calls as K
from difychat._calls import FileInput, drop_none
from difychat._io import AsyncCore, SyncCore
from difychat.types.knowledge import (
    Dataset,
    DatasetPage,
    Document,
    DocumentPage,
    IndexingStatus,
    Segment,
    SegmentPage,
    SubmittedDocument,
)


def _options(
    indexing_technique: str | None,
    max_tokens: int | None,
    chunk_overlap: int | None,
    separator: str | None,
    process_rule: dict[str, Any] | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    rule = K.process_rule(max_tokens, chunk_overlap, separator, process_rule)
    return drop_none({"indexing_technique": indexing_technique, "process_rule": rule, **extra})


class KnowledgeMethods(SyncCore):
    def create_dataset(
        self,
        name: str,
        *,
        description: str | None = None,
        indexing_technique: str | None = None,
        permission: str | None = None,
        embedding_model: str | None = None,
        embedding_model_provider: str | None = None,
        retrieval_model: dict[str, Any] | None = None,
        api_key: str | None = None,
    ) -> Dataset:
        """Create a dataset (knowledge base).

        Example::

            docs = kb.create_dataset("Docs", indexing_technique="economy")
        """
        body = drop_none(
            {
                "name": name,
                "description": description,
                "indexing_technique": indexing_technique,
                "permission": permission,
                "embedding_model": embedding_model,
                "embedding_model_provider": embedding_model_provider,
                "retrieval_model": retrieval_model,
            }
        )
        return self._request(K.create_dataset(body), api_key)

    def list_datasets(
        self,
        *,
        page: int = 1,
        limit: int = 20,
        keyword: str | None = None,
        tag_ids: Sequence[str] | None = None,
        api_key: str | None = None,
    ) -> DatasetPage:
        """One page of datasets, newest first (``has_more`` tells whether another page follows);
        with ``tag_ids``, only those carrying any of the tags.

        Example::

            tagged = kb.list_datasets(tag_ids=[guide.id])
        """
        return self._request(K.list_datasets(page, limit, keyword, tag_ids), api_key)

    def get_dataset(self, dataset_id: str, *, api_key: str | None = None) -> Dataset:
        return self._request(K.get_dataset(dataset_id), api_key)

    def update_dataset(self, dataset_id: str, *, api_key: str | None = None, **changes: Any) -> Dataset:
        """Change the fields given (``name=``, ``description=``, ``retrieval_model=``, ...)."""
        return self._request(K.update_dataset(dataset_id, changes), api_key)

    def delete_dataset(self, dataset_id: str, *, api_key: str | None = None) -> None:
        """Delete the dataset with its documents and segments."""
        return self._request(K.delete_dataset(dataset_id), api_key)

    def create_document_from_text(
        self,
        dataset_id: str,
        name: str,
        text: str,
        *,
        indexing_technique: str | None = None,
        max_tokens: int | None = None,
        chunk_overlap: int | None = None,
        separator: str | None = None,
        process_rule: dict[str, Any] | None = None,
        api_key: str | None = None,
        **options: Any,
    ) -> SubmittedDocument:
        """Add a document made of ``text``; indexing runs in the background (see
        :meth:`wait_for_indexing`). Without a rule the dataset's latest, else automatic, is used.

        Example::

            done = kb.create_document_from_text(docs.id, "intro", "Dify is ...")
            kb.wait_for_indexing(docs.id, done.batch)
        """
        body = {
            "name": name,
            "text": text,
            **_options(indexing_technique, max_tokens, chunk_overlap, separator, process_rule, options),
        }
        return self._request(K.create_by_text(dataset_id, body), api_key)

    def create_document_from_file(
        self,
        dataset_id: str,
        file: FileInput,
        *,
        filename: str | None = None,
        indexing_technique: str | None = None,
        max_tokens: int | None = None,
        chunk_overlap: int | None = None,
        separator: str | None = None,
        process_rule: dict[str, Any] | None = None,
        api_key: str | None = None,
        **options: Any,
    ) -> SubmittedDocument:
        """Upload a document (a path, bytes or a binary file object; txt, md, pdf, docx, xlsx, html,
        csv, ...). A file without a rule gets the automatic one.

        Example::

            done = kb.create_document_from_file(docs.id, "handbook.pdf", indexing_technique="economy")
            status = kb.wait_for_indexing(docs.id, done.batch)
        """
        body = _options(indexing_technique, max_tokens, chunk_overlap, separator, process_rule, options)
        body.setdefault("process_rule", K.AUTOMATIC)
        return self._request(K.create_by_file(dataset_id, file, filename, body), api_key)

    def update_document_from_text(
        self,
        dataset_id: str,
        document_id: str,
        *,
        name: str | None = None,
        text: str | None = None,
        process_rule: dict[str, Any] | None = None,
        api_key: str | None = None,
    ) -> SubmittedDocument:
        """Replace a document's text (and name), keeping its id; it is indexed again."""
        body = drop_none({"name": name, "text": text, "process_rule": process_rule})
        return self._request(K.update_by_text(dataset_id, document_id, body), api_key)

    def update_document_from_file(
        self,
        dataset_id: str,
        document_id: str,
        file: FileInput | None = None,
        *,
        filename: str | None = None,
        process_rule: dict[str, Any] | None = None,
        api_key: str | None = None,
    ) -> SubmittedDocument:
        """Replace a document's file, keeping its id; it is indexed again."""
        body = drop_none({"process_rule": process_rule})
        return self._request(K.update_by_file(dataset_id, document_id, file, filename, body), api_key)

    def list_documents(
        self,
        dataset_id: str,
        *,
        page: int = 1,
        limit: int = 20,
        keyword: str | None = None,
        status: str | None = None,
        api_key: str | None = None,
    ) -> DocumentPage:
        """One page of documents, newest first; ``status`` filters by display status
        (``queuing``, ``indexing``, ``error``, ``available``, ``disabled``, ``archived``)."""
        return self._request(K.list_documents(dataset_id, page, limit, keyword, status), api_key)

    def get_document(self, dataset_id: str, document_id: str, *, api_key: str | None = None) -> Document:
        return self._request(K.get_document(dataset_id, document_id), api_key)

    def delete_document(self, dataset_id: str, document_id: str, *, api_key: str | None = None) -> None:
        return self._request(K.delete_document(dataset_id, document_id), api_key)

    def set_documents_status(
        self, dataset_id: str, action: str, document_ids: Sequence[str], *, api_key: str | None = None
    ) -> None:
        """``enable``, ``disable``, ``archive`` or ``un_archive`` the documents."""
        return self._request(K.document_status(dataset_id, action, document_ids), api_key)

    def indexing_status(self, dataset_id: str, batch: str, *, api_key: str | None = None) -> IndexingStatus:
        """Where the documents of a batch are: one item per document."""
        return self._request(K.indexing_status(dataset_id, batch), api_key)

    def wait_for_indexing(
        self,
        dataset_id: str,
        batch: str,
        *,
        timeout: float = 600.0,
        interval: float = 1.0,
        api_key: str | None = None,
    ) -> IndexingStatus:
        """Poll until every document of the batch is ``completed`` or ``error`` and return the
        last status; ``TimeoutError`` after ``timeout`` seconds. Check ``status.failed``.

        Example::

            status = kb.wait_for_indexing(docs.id, done.batch)
            for item in status.failed:
                print(item.id, item.error)
        """
        deadline = time.monotonic() + timeout
        while True:
            status = self.indexing_status(dataset_id, batch, api_key=api_key)
            if status.finished:
                return status
            if time.monotonic() >= deadline:
                raise TimeoutError(f"batch {batch} is still indexing after {timeout:g} s")
            time.sleep(interval)

    def list_segments(
        self,
        dataset_id: str,
        document_id: str,
        *,
        page: int = 1,
        limit: int = 20,
        keyword: str | None = None,
        status: Sequence[str] | None = None,
        api_key: str | None = None,
    ) -> SegmentPage:
        """One page of a document's segments, in order."""
        call = K.list_segments(dataset_id, document_id, page, limit, keyword, status)
        return self._request(call, api_key)

    def add_segments(
        self,
        dataset_id: str,
        document_id: str,
        segments: Sequence[str | dict[str, Any]],
        *,
        api_key: str | None = None,
    ) -> list[Segment]:
        """Add segments to an indexed document: texts, or ``{"content", "answer", "keywords"}``."""
        items = [{"content": s} if isinstance(s, str) else dict(s) for s in segments]
        return self._request(K.add_segments(dataset_id, document_id, items), api_key)

    def get_segment(
        self, dataset_id: str, document_id: str, segment_id: str, *, api_key: str | None = None
    ) -> Segment:
        return self._request(K.get_segment(dataset_id, document_id, segment_id), api_key)

    def update_segment(
        self,
        dataset_id: str,
        document_id: str,
        segment_id: str,
        *,
        content: str | None = None,
        answer: str | None = None,
        keywords: Sequence[str] | None = None,
        enabled: bool | None = None,
        api_key: str | None = None,
    ) -> Segment:
        """Change a segment; a new text is indexed again before the call returns."""
        changes = drop_none(
            {
                "content": content,
                "answer": answer,
                "keywords": None if keywords is None else list(keywords),
                "enabled": enabled,
            }
        )
        return self._request(K.update_segment(dataset_id, document_id, segment_id, changes), api_key)

    def delete_segment(
        self, dataset_id: str, document_id: str, segment_id: str, *, api_key: str | None = None
    ) -> None:
        return self._request(K.delete_segment(dataset_id, document_id, segment_id), api_key)


class AsyncKnowledgeMethods(AsyncCore):
    async def create_dataset(
        self,
        name: str,
        *,
        description: str | None = None,
        indexing_technique: str | None = None,
        permission: str | None = None,
        embedding_model: str | None = None,
        embedding_model_provider: str | None = None,
        retrieval_model: dict[str, Any] | None = None,
        api_key: str | None = None,
    ) -> Dataset:
        """Create a dataset (knowledge base).

        Example::

            docs = await kb.create_dataset("Docs", indexing_technique="economy")
        """
        body = drop_none(
            {
                "name": name,
                "description": description,
                "indexing_technique": indexing_technique,
                "permission": permission,
                "embedding_model": embedding_model,
                "embedding_model_provider": embedding_model_provider,
                "retrieval_model": retrieval_model,
            }
        )
        return await self._request(K.create_dataset(body), api_key)

    async def list_datasets(
        self,
        *,
        page: int = 1,
        limit: int = 20,
        keyword: str | None = None,
        tag_ids: Sequence[str] | None = None,
        api_key: str | None = None,
    ) -> DatasetPage:
        """One page of datasets, newest first (``has_more`` tells whether another page follows);
        with ``tag_ids``, only those carrying any of the tags.

        Example::

            tagged = await kb.list_datasets(tag_ids=[guide.id])
        """
        return await self._request(K.list_datasets(page, limit, keyword, tag_ids), api_key)

    async def get_dataset(self, dataset_id: str, *, api_key: str | None = None) -> Dataset:
        return await self._request(K.get_dataset(dataset_id), api_key)

    async def update_dataset(self, dataset_id: str, *, api_key: str | None = None, **changes: Any) -> Dataset:
        """Change the fields given (``name=``, ``description=``, ``retrieval_model=``, ...)."""
        return await self._request(K.update_dataset(dataset_id, changes), api_key)

    async def delete_dataset(self, dataset_id: str, *, api_key: str | None = None) -> None:
        """Delete the dataset with its documents and segments."""
        return await self._request(K.delete_dataset(dataset_id), api_key)

    async def create_document_from_text(
        self,
        dataset_id: str,
        name: str,
        text: str,
        *,
        indexing_technique: str | None = None,
        max_tokens: int | None = None,
        chunk_overlap: int | None = None,
        separator: str | None = None,
        process_rule: dict[str, Any] | None = None,
        api_key: str | None = None,
        **options: Any,
    ) -> SubmittedDocument:
        """Add a document made of ``text``; indexing runs in the background (see
        :meth:`wait_for_indexing`). Without a rule the dataset's latest, else automatic, is used.

        Example::

            done = await kb.create_document_from_text(docs.id, "intro", "Dify is ...")
            await kb.wait_for_indexing(docs.id, done.batch)
        """
        body = {
            "name": name,
            "text": text,
            **_options(indexing_technique, max_tokens, chunk_overlap, separator, process_rule, options),
        }
        return await self._request(K.create_by_text(dataset_id, body), api_key)

    async def create_document_from_file(
        self,
        dataset_id: str,
        file: FileInput,
        *,
        filename: str | None = None,
        indexing_technique: str | None = None,
        max_tokens: int | None = None,
        chunk_overlap: int | None = None,
        separator: str | None = None,
        process_rule: dict[str, Any] | None = None,
        api_key: str | None = None,
        **options: Any,
    ) -> SubmittedDocument:
        """Upload a document (a path, bytes or a binary file object; txt, md, pdf, docx, xlsx, html,
        csv, ...). A file without a rule gets the automatic one.

        Example::

            done = await kb.create_document_from_file(docs.id, "handbook.pdf", indexing_technique="economy")
            status = await kb.wait_for_indexing(docs.id, done.batch)
        """
        body = _options(indexing_technique, max_tokens, chunk_overlap, separator, process_rule, options)
        body.setdefault("process_rule", K.AUTOMATIC)
        return await self._request(K.create_by_file(dataset_id, file, filename, body), api_key)

    async def update_document_from_text(
        self,
        dataset_id: str,
        document_id: str,
        *,
        name: str | None = None,
        text: str | None = None,
        process_rule: dict[str, Any] | None = None,
        api_key: str | None = None,
    ) -> SubmittedDocument:
        """Replace a document's text (and name), keeping its id; it is indexed again."""
        body = drop_none({"name": name, "text": text, "process_rule": process_rule})
        return await self._request(K.update_by_text(dataset_id, document_id, body), api_key)

    async def update_document_from_file(
        self,
        dataset_id: str,
        document_id: str,
        file: FileInput | None = None,
        *,
        filename: str | None = None,
        process_rule: dict[str, Any] | None = None,
        api_key: str | None = None,
    ) -> SubmittedDocument:
        """Replace a document's file, keeping its id; it is indexed again."""
        body = drop_none({"process_rule": process_rule})
        return await self._request(K.update_by_file(dataset_id, document_id, file, filename, body), api_key)

    async def list_documents(
        self,
        dataset_id: str,
        *,
        page: int = 1,
        limit: int = 20,
        keyword: str | None = None,
        status: str | None = None,
        api_key: str | None = None,
    ) -> DocumentPage:
        """One page of documents, newest first; ``status`` filters by display status
        (``queuing``, ``indexing``, ``error``, ``available``, ``disabled``, ``archived``)."""
        return await self._request(K.list_documents(dataset_id, page, limit, keyword, status), api_key)

    async def get_document(
        self, dataset_id: str, document_id: str, *, api_key: str | None = None
    ) -> Document:
        return await self._request(K.get_document(dataset_id, document_id), api_key)

    async def delete_document(self, dataset_id: str, document_id: str, *, api_key: str | None = None) -> None:
        return await self._request(K.delete_document(dataset_id, document_id), api_key)

    async def set_documents_status(
        self, dataset_id: str, action: str, document_ids: Sequence[str], *, api_key: str | None = None
    ) -> None:
        """``enable``, ``disable``, ``archive`` or ``un_archive`` the documents."""
        return await self._request(K.document_status(dataset_id, action, document_ids), api_key)

    async def indexing_status(
        self, dataset_id: str, batch: str, *, api_key: str | None = None
    ) -> IndexingStatus:
        """Where the documents of a batch are: one item per document."""
        return await self._request(K.indexing_status(dataset_id, batch), api_key)

    async def wait_for_indexing(
        self,
        dataset_id: str,
        batch: str,
        *,
        timeout: float = 600.0,
        interval: float = 1.0,
        api_key: str | None = None,
    ) -> IndexingStatus:
        """Poll until every document of the batch is ``completed`` or ``error`` and return the
        last status; ``TimeoutError`` after ``timeout`` seconds. Check ``status.failed``.

        Example::

            status = await kb.wait_for_indexing(docs.id, done.batch)
            for item in status.failed:
                print(item.id, item.error)
        """
        deadline = time.monotonic() + timeout
        while True:
            status = await self.indexing_status(dataset_id, batch, api_key=api_key)
            if status.finished:
                return status
            if time.monotonic() >= deadline:
                raise TimeoutError(f"batch {batch} is still indexing after {timeout:g} s")
            await asyncio.sleep(interval)

    async def list_segments(
        self,
        dataset_id: str,
        document_id: str,
        *,
        page: int = 1,
        limit: int = 20,
        keyword: str | None = None,
        status: Sequence[str] | None = None,
        api_key: str | None = None,
    ) -> SegmentPage:
        """One page of a document's segments, in order."""
        call = K.list_segments(dataset_id, document_id, page, limit, keyword, status)
        return await self._request(call, api_key)

    async def add_segments(
        self,
        dataset_id: str,
        document_id: str,
        segments: Sequence[str | dict[str, Any]],
        *,
        api_key: str | None = None,
    ) -> list[Segment]:
        """Add segments to an indexed document: texts, or ``{"content", "answer", "keywords"}``."""
        items = [{"content": s} if isinstance(s, str) else dict(s) for s in segments]
        return await self._request(K.add_segments(dataset_id, document_id, items), api_key)

    async def get_segment(
        self, dataset_id: str, document_id: str, segment_id: str, *, api_key: str | None = None
    ) -> Segment:
        return await self._request(K.get_segment(dataset_id, document_id, segment_id), api_key)

    async def update_segment(
        self,
        dataset_id: str,
        document_id: str,
        segment_id: str,
        *,
        content: str | None = None,
        answer: str | None = None,
        keywords: Sequence[str] | None = None,
        enabled: bool | None = None,
        api_key: str | None = None,
    ) -> Segment:
        """Change a segment; a new text is indexed again before the call returns."""
        changes = drop_none(
            {
                "content": content,
                "answer": answer,
                "keywords": None if keywords is None else list(keywords),
                "enabled": enabled,
            }
        )
        return await self._request(K.update_segment(dataset_id, document_id, segment_id, changes), api_key)

    async def delete_segment(
        self, dataset_id: str, document_id: str, segment_id: str, *, api_key: str | None = None
    ) -> None:
        return await self._request(K.delete_segment(dataset_id, document_id, segment_id), api_key)
