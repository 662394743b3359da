"""The Knowledge API clients, :class:`DifyKnowledge` and :class:`AsyncDifyKnowledge`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import TracebackType

import httpx

from difychat._base import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, TimeoutTypes
from difychat._methods.knowledge import AsyncKnowledgeMethods, KnowledgeMethods
from difychat._methods.knowledge_meta import AsyncKnowledgeMetaMethods, KnowledgeMetaMethods
from difychat._retry import RetryPolicy

__all__ = ["AsyncDifyKnowledge", "DifyKnowledge"]

KEY_ENV = "DIFY_DATASET_API_KEY"


class DifyKnowledge(KnowledgeMethods, KnowledgeMetaMethods):
    """A client for the Knowledge (datasets) API of Dify or ``difychat serve``.

    Args:
        api_key: a knowledge key (``dataset-...``); defaults to ``$DIFY_DATASET_API_KEY``.
        base_url: the API root including ``/v1``; defaults to ``$DIFY_BASE_URL``, then
            ``https://api.dify.ai/v1``.
        timeout, max_retries, retry_policy, default_headers, http_client: as for :class:`DifyChat`.

    Example::

        from difychat import DifyKnowledge

        with DifyKnowledge(api_key="dataset-...", base_url="http://localhost:5001/v1") as kb:
            docs = kb.create_dataset("Docs", indexing_technique="economy")
            done = kb.create_document_from_file(docs.id, "handbook.pdf")
            kb.wait_for_indexing(docs.id, done.batch)
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_policy: RetryPolicy | None = None,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            api_key or os.environ.get(KEY_ENV) or None,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            default_headers=default_headers,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client(timeout=self.timeout)

    def close(self) -> None:
        """Close the connection pool (unless it was passed in as ``http_client``)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> DifyKnowledge:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncDifyKnowledge(AsyncKnowledgeMethods, AsyncKnowledgeMetaMethods):
    """The async Knowledge API client; every method of :class:`DifyKnowledge`, awaited.

    Example::

        async with AsyncDifyKnowledge(api_key="dataset-...", base_url="http://localhost:5001/v1") as kb:
            docs = await kb.create_dataset("Docs", indexing_technique="economy")
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_policy: RetryPolicy | None = None,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            api_key or os.environ.get(KEY_ENV) or None,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            default_headers=default_headers,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient(timeout=self.timeout)

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncDifyKnowledge:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
