"""Datasets declared in the apps file (a top-level ``datasets:`` list): created at start-up when
no dataset of that name exists; an existing one is left as it is (the API may have changed it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class DatasetDeclaration(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Unique in the file; an existing dataset of this name is left as it is.
    name: str = Field(min_length=1, max_length=40)
    # What the dataset holds; an agent's dataset tool is described by it.
    description: str = Field(default="", max_length=400)
    # economy: keywords only; high_quality: embeddings too. Unset: the first document added sets it.
    indexing_technique: Literal["high_quality", "economy"] | None = None
    permission: Literal["only_me", "all_team_members", "partial_members"] = "only_me"
    # high_quality: the embedding model's name and provider.
    embedding_model: str | None = None
    embedding_model_provider: str | None = None
    # How the dataset is searched (Dify's retrieval_model: search_method, top_k, ...).
    retrieval_model: dict[str, Any] | None = None
