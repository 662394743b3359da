"""POST/GET /datasets, GET/PATCH/DELETE /datasets/{dataset_id}."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.context import services
from difychat.server.api.described import DATASETS, Param, describe
from difychat.server.api.knowledge.context import authenticate, dataset_in_path, keyword, paging
from difychat.server.api.knowledge.schemas import PAGING, DatasetCreate
from difychat.server.api.parsing import json_body, validate
from difychat.server.api.responses import JSON, no_content
from difychat.server.api.wire import knowledge as wire
from difychat.server.services.knowledge.datasets import NewDataset


@describe(
    "Create a dataset",
    DATASETS,
    description="Empty; `indexing_technique` `high_quality` (embeddings) or `economy` (keywords).",
    body=DatasetCreate,
    response=wire.Dataset,
)
async def create_dataset(request: Request) -> Response:
    found, caller = await authenticate(request)
    body = validate(DatasetCreate, await json_body(request, services(request).max_json_body_bytes))
    view = await found.datasets.create(
        NewDataset(
            name=body.name,
            description=body.description or "",
            indexing_technique=body.indexing_technique,
            permission=body.permission or "only_me",
            provider=body.provider or "vendor",
            embedding_model=body.embedding_model,
            embedding_model_provider=body.embedding_model_provider,
            retrieval_model=body.retrieval_model,
            summary_index_setting=body.summary_index_setting,
            external_knowledge_id=body.external_knowledge_id,
            external_knowledge_api_id=body.external_knowledge_api_id,
        ),
        caller,
    )
    if caller.scope is not None:
        found.keys.forget(caller.key_id)  # the key now reaches the new dataset
    return JSON(wire.dataset(view))


@describe(
    "List datasets",
    DATASETS,
    description="Those the key reaches.",
    query={**PAGING, "tag_ids": Param({"type": "array", "items": {"type": "string"}})},
    response=wire.DatasetPage,
)
async def list_datasets(request: Request) -> Response:
    found, caller = await authenticate(request)
    page, limit = paging(request)
    tag_ids = [t for t in request.query_params.getlist("tag_ids") if t.strip()]
    result = await found.datasets.listing(
        caller, page=page, limit=limit, keyword=keyword(request), tag_ids=tag_ids
    )
    return JSON(wire.numbered_page(result, lambda view: wire.dataset(view, listing=True)))


@describe("A dataset", DATASETS, response=wire.Dataset)
async def get_dataset(request: Request) -> Response:
    found, _, dataset = await dataset_in_path(request)
    view = await found.datasets.view(dataset.id)
    return JSON(wire.dataset_detail(view, with_members=dataset.permission == "partial_members"))


@describe(
    "Update a dataset",
    DATASETS,
    body={
        "type": "object",
        "description": "The fields that change: those of create, and `partial_member_list`.",
    },
    response=wire.Dataset,
)
async def update_dataset(request: Request) -> Response:
    found, caller, dataset = await dataset_in_path(request)
    changes = await json_body(request, services(request).max_json_body_bytes)
    view = await found.datasets.update(caller, dataset.id, changes)
    return JSON(wire.dataset_detail(view, with_members=True))


@describe("Delete a dataset", DATASETS, description="With its documents and their index.", status=204)
async def delete_dataset(request: Request) -> Response:
    found, caller, dataset = await dataset_in_path(request)
    await found.datasets.delete(caller, dataset.id)
    return no_content()
