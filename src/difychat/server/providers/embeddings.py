"""Text embeddings over any OpenAI-compatible ``POST {base_url}/embeddings``."""

from __future__ import annotations

from typing import Protocol

import aiohttp
import orjson

from difychat.server.providers.failures import Failure, failure, status_error, transport_error

LABEL = "openai"


class EmbeddingModel(Protocol):
    name: str

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order."""
        ...


class OpenAICompatibleEmbeddings:
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
        self._url = base_url.rstrip("/") + "/embeddings"
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 10.0))

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        body = orjson.dumps({"model": self.name, "input": texts})
        try:
            async with self._session.post(
                self._url, data=body, headers=self._headers, timeout=self._timeout
            ) as response:
                raw = await response.read()
                if response.status >= 400:
                    raise status_error(LABEL, response.status, raw)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise transport_error(LABEL, exc, self._url) from exc
        try:
            items = sorted(orjson.loads(raw)["data"], key=lambda item: int(item.get("index", 0)))
            vectors = [[float(x) for x in item["embedding"]] for item in items]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise failure(Failure.MALFORMED, LABEL, "embeddings response") from exc
        if len(vectors) != len(texts):
            raise failure(Failure.MALFORMED, LABEL, "embeddings response: the wrong number of vectors")
        return vectors
