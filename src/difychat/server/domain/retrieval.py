"""How a dataset is searched: Dify's ``retrieval_model`` shape, and the plan a search runs.

``RetrievalModel`` is the object datasets store, ``/retrieve`` accepts and ``dataset_configs``
carries (knowledge contract §9, §12); ``SearchPlan`` is what one search of one dataset does,
resolved from it: the method, how many, the threshold, and how results are fused or reranked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from difychat.server.domain.features import Schema

SearchMethod = Literal["semantic_search", "full_text_search", "hybrid_search", "keyword_search"]
SEARCH_METHODS: tuple[str, ...] = ("semantic_search", "full_text_search", "hybrid_search", "keyword_search")
RerankingMode = Literal["reranking_model", "weighted_score"]

# Defaults of a dataset with no stored settings (contract §3) and of /retrieve (§9).
DATASET_TOP_K = 2
RETRIEVE_TOP_K = 4
# Reciprocal rank fusion's constant (the usual 60).
RRF_K = 60


class RerankingModelRef(Schema):
    """The rerank model a search names; the server's rerank model does the reranking."""

    reranking_provider_name: str = ""
    # Set: results are reranked (when reranking is on).
    reranking_model_name: str = ""

    @property
    def named(self) -> bool:
        return bool(self.reranking_model_name)


class VectorSetting(Schema):
    # The share of the semantic (vector) score.
    vector_weight: float = Field(default=0.7, ge=0, le=1)
    embedding_provider_name: str = ""
    embedding_model_name: str = ""


class KeywordSetting(Schema):
    # The share of the keyword score.
    keyword_weight: float = Field(default=0.3, ge=0, le=1)


class Weights(Schema):
    """Dify's weighted-score settings: how semantic and keyword scores are combined."""

    weight_type: str | None = "customized"
    vector_setting: VectorSetting = Field(default_factory=VectorSetting)
    keyword_setting: KeywordSetting = Field(default_factory=KeywordSetting)


class RetrievalModel(Schema):
    """``retrieval_model``: the §9 shape, every key optional with Dify's defaults."""

    search_method: SearchMethod = "semantic_search"
    reranking_enable: bool = False
    reranking_mode: RerankingMode | None = None
    reranking_model: RerankingModelRef = Field(default_factory=RerankingModelRef)
    weights: Weights | None = None
    top_k: int = Field(default=DATASET_TOP_K, ge=1, le=100)
    score_threshold_enabled: bool = False
    score_threshold: float | None = None
    metadata_filtering_conditions: dict[str, Any] | None = None

    def wire(self) -> dict[str, Any]:
        """As ``retrieval_model_dict`` shows it (key order of the contract)."""
        return {
            "search_method": self.search_method,
            "reranking_enable": self.reranking_enable,
            "reranking_mode": self.reranking_mode,
            "reranking_model": self.reranking_model.model_dump(),
            "weights": None if self.weights is None else self.weights.model_dump(),
            "top_k": self.top_k,
            "score_threshold_enabled": self.score_threshold_enabled,
            "score_threshold": self.score_threshold,
        }


@dataclass(frozen=True, slots=True)
class Rerank:
    """Results are reordered by a rerank model (``model``) or by weighted scores (``weights``)."""

    model: RerankingModelRef | None = None
    # (vector weight, keyword weight)
    weights: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class SearchPlan:
    method: SearchMethod
    top_k: int
    # Results scoring below this are dropped (None: no threshold).
    threshold: float | None = None
    rerank: Rerank | None = None

    @classmethod
    def of(cls, model: RetrievalModel, *, embeds: bool) -> SearchPlan:
        """The plan for a dataset; one that keeps no embeddings searches by keyword."""
        method: SearchMethod = model.search_method
        if not embeds and method in ("semantic_search", "hybrid_search"):
            method = "keyword_search"
        threshold = model.score_threshold if model.score_threshold_enabled else None
        rerank: Rerank | None = None
        if model.reranking_enable or method == "hybrid_search":
            if model.reranking_mode == "weighted_score" and model.weights is not None:
                weights = model.weights
                rerank = Rerank(
                    weights=(weights.vector_setting.vector_weight, weights.keyword_setting.keyword_weight)
                )
            elif model.reranking_enable and model.reranking_model.named:
                rerank = Rerank(model=model.reranking_model)
        return cls(method, model.top_k, threshold, rerank)


@dataclass(frozen=True, slots=True)
class Hit:
    """One segment found, with its score in [0, 1]."""

    segment_id: str
    score: float


# --- chat apps with datasets (contract §12) ---------------------------------------------------------

CHAT_TOP_K = 4


class DatasetRef(Schema):
    """``{"dataset": {"enabled": true, "id": "…"}}``; difychat also accepts ``name`` for ``id``."""

    # False: the dataset is not searched.
    enabled: bool = True
    # The dataset's id.
    id: str | None = None
    # Or its name (difychat's).
    name: str | None = None


class DatasetEntry(Schema):
    """One dataset of ``dataset_configs.datasets.datasets``."""

    dataset: DatasetRef


class DatasetList(Schema):
    """``dataset_configs.datasets``: the datasets, as Dify nests them."""

    strategy: str = "router"
    datasets: list[DatasetEntry] = Field(default_factory=list)


class DatasetConfigs(Schema):
    """``dataset_configs``: which datasets a chat app searches, and how."""

    # A stored ``dataset_configs`` without the key counts as "single" (the contract, §12).
    retrieval_model: Literal["single", "multiple"] = Field(
        default="single",
        description="multiple: every dataset is searched and the results merged; single: the model "
        "picks the one dataset to search.",
    )
    # Passages that go to the model (multiple).
    top_k: int = Field(default=CHAT_TOP_K, ge=1, le=100)
    # Drop passages scoring below score_threshold (multiple).
    score_threshold_enabled: bool = False
    score_threshold: float | None = 0.8
    # Dify reads ``reranking_enabled`` while its console writes ``reranking_enable``: both are read,
    # in that order, default on.
    reranking_enabled: bool | None = None
    # What Dify's console writes for reranking_enabled.
    reranking_enable: bool | None = None
    # How several datasets' results are merged: by the rerank model or by weighted scores.
    reranking_mode: RerankingMode = "reranking_model"
    reranking_model: RerankingModelRef = Field(default_factory=RerankingModelRef)
    weights: Weights | None = None
    datasets: DatasetList = Field(default_factory=DatasetList)
    # Dify's metadata filtering, kept as written; difychat does not filter by metadata.
    metadata_filtering_mode: Literal["disabled", "automatic", "manual"] = "disabled"
    metadata_model_config: dict[str, Any] | None = None
    metadata_filtering_conditions: dict[str, Any] | None = None
    # Dify's: the input a completion app searches with; completion apps do not search datasets here.
    dataset_query_variable: str | None = None

    @property
    def reranking_on(self) -> bool:
        for value in (self.reranking_enabled, self.reranking_enable):
            if value is not None:
                return value
        return True

    @property
    def threshold(self) -> float | None:
        return self.score_threshold if self.score_threshold_enabled else None

    def references(self) -> list[DatasetRef]:
        """The enabled datasets named by id or name, in order."""
        return [
            e.dataset
            for e in self.datasets.datasets
            if e.dataset.enabled and (e.dataset.id or e.dataset.name)
        ]
