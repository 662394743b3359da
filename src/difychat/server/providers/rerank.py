"""Reranking over a Jina/Cohere-style ``POST {base_url}/rerank`` (also vLLM, TEI, Xinference).

Request ``{"model", "query", "documents": [...], "top_n"}``; answer
``{"results": [{"index", "relevance_score"}, ...]}``. Scores are taken as given (these
services answer in [0, 1]); documents the service leaves out score 0.
"""

from __future__ import annotations

from typing import Protocol

import aiohttp
import orjson

from difychat.server.providers.failures import Failure, failure, status_error, transport_error

LABEL = "rerank"


class RerankModel(Protocol):
    name: str

    async def rerank(self, query: str, documents: list[str]) -> list[float]:
        """One relevance score per document, in the documents' order."""
        ...


class HttpRerank:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        model: str,
        base_url: str,
        api_key: str | None,
        timeout: float,
    ) -> None:
        self.name = model
        self._session = session
        self._url = base_url.rstrip("/") + "/rerank"
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 10.0))

    async def rerank(self, query: str, documents: list[str]) -> list[float]:
        if not documents:
            return []
        body = orjson.dumps(
            {"model": self.name, "query": query, "documents": documents, "top_n": len(documents)}
        )
        try:
            async with self._session.post(
                self._url, data=body, headers=self._headers, timeout=self._timeout
            ) as response:
                raw = await response.read()
                if response.status >= 400:
                    raise status_error(LABEL, response.status, raw)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise transport_error(LABEL, exc, self._url) from exc
        scores = [0.0] * len(documents)
        try:
            for item in orjson.loads(raw)["results"]:
                index = int(item["index"])
                if 0 <= index < len(documents):
                    scores[index] = float(item["relevance_score"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise failure(Failure.MALFORMED, LABEL, "rerank response") from exc
        return scores
