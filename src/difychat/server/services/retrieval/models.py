"""The models knowledge uses: one embedding model for high-quality datasets, one rerank model.

Both are the server's (``DIFYCHAT_EMBEDDING_*``, ``DIFYCHAT_RERANK_*``), built by the
composition root: an OpenAI-compatible ``/embeddings`` endpoint or the local model of the
``local-embeddings`` extra, and a ``/rerank`` endpoint. Without an embedding model datasets
are economy (keywords only); asking for vectors then is ``provider_not_initialize``.
"""

from __future__ import annotations

from dataclasses import dataclass

from difychat.server.domain.knowledge import HIGH_QUALITY, DatasetRecord
from difychat.server.domain.retrieval import SearchPlan
from difychat.server.errors import ProviderNotInitialized
from difychat.server.providers.embeddings import EmbeddingModel
from difychat.server.providers.rerank import RerankModel

NO_EMBEDDINGS = (
    "No embedding model is configured: set DIFYCHAT_EMBEDDING_MODEL (and DIFYCHAT_EMBEDDING_BASE_URL), "
    "or DIFYCHAT_EMBEDDING_PROVIDER=local, or use the economy indexing technique."
)
NO_RERANK = "No rerank model is configured: set DIFYCHAT_RERANK_BASE_URL and DIFYCHAT_RERANK_MODEL."


@dataclass(frozen=True, slots=True)
class KnowledgeModels:
    embeddings: EmbeddingModel | None = None
    rerank: RerankModel | None = None

    def embeddings_for(self, dataset: DatasetRecord) -> EmbeddingModel | None:
        """The dataset's model; None for an economy dataset (keywords only)."""
        if dataset.indexing_technique != HIGH_QUALITY:
            return None
        if self.embeddings is None:
            raise ProviderNotInitialized(NO_EMBEDDINGS)
        return self.embeddings

    def rerank_for(self, plan: SearchPlan) -> RerankModel | None:
        if plan.rerank is None or plan.rerank.model is None:
            return None
        if self.rerank is None:
            raise ProviderNotInitialized(NO_RERANK)
        return self.rerank
