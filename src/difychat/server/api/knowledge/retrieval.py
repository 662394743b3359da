"""``POST /datasets/{dataset_id}/retrieve`` and its alias ``/hit-testing`` (knowledge contract §9)."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.context import services
from difychat.server.api.described import RETRIEVAL, describe
from difychat.server.api.knowledge.context import dataset_in_path
from difychat.server.api.parsing import json_body, validate
from difychat.server.api.responses import JSON
from difychat.server.api.wire import retrieval as wire
from difychat.server.domain.knowledge import DatasetRecord
from difychat.server.domain.retrieval import RETRIEVE_TOP_K, RetrievalModel
from difychat.server.errors import DatasetNotInitialized, InvalidParam, NotFound

logger = logging.getLogger("difychat.knowledge")

MAX_QUERY_CHARS = 250
QUERY_RULE = "Query is required and cannot exceed 250 characters"
# Dify fails with a 500 on a retrieval_model without these; here they are named.
REQUIRED_SETTINGS = ("reranking_enable", "score_threshold_enabled")


class RetrieveBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: str | None = None
    retrieval_model: dict[str, Any] | None = None
    external_retrieval_model: dict[str, Any] | None = None
    attachment_ids: list[str] | None = None


def settings_for(dataset: DatasetRecord, asked: dict[str, Any] | None) -> RetrievalModel:
    """The request's settings, else the dataset's, else semantic search of the top 4."""
    if asked is not None:
        for key in REQUIRED_SETTINGS:
            if key not in asked:
                raise InvalidParam(f"retrieval_model.{key} is required")
        return validate(RetrievalModel, asked)
    if dataset.retrieval_model:
        return RetrievalModel.model_validate(dataset.retrieval_model)
    return RetrievalModel(search_method="semantic_search", top_k=RETRIEVE_TOP_K)


@describe(
    "Search a dataset",
    RETRIEVAL,
    description="The segments that best match `query` (at most 250 characters), best first, by the "
    "dataset's retrieval settings or those given.",
    body=RetrieveBody,
    response=wire.Retrieval,
)
async def retrieve(request: Request) -> Response:
    _, _, dataset = await dataset_in_path(request)
    svc = services(request)
    search = svc.retrieval
    if search is None:  # pragma: no cover - the composition root always builds it
        raise NotFound()
    body = validate(RetrieveBody, await json_body(request, svc.max_json_body_bytes))
    query = body.query or ""
    if not query.strip():
        if body.attachment_ids:
            raise InvalidParam("Image queries are not supported; send a text query.")
        raise InvalidParam(QUERY_RULE)
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidParam(QUERY_RULE)
    settings = settings_for(dataset, body.retrieval_model)
    if dataset.indexing_technique is None:
        raise DatasetNotInitialized()
    plan = search.plan(dataset, settings)
    found = await search.search(dataset, query, plan)
    logger.info("dataset %s queried (%s): %d records", dataset.id, plan.method, len(found))
    return JSON(wire.retrieval(query, found))
