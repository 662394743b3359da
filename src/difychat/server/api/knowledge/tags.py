"""Tags of datasets: GET/POST/PATCH/DELETE /datasets/tags, POST /datasets/tags/binding and
/unbinding, GET /datasets/{dataset_id}/tags."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.context import services
from difychat.server.api.described import KNOWLEDGE_TAGS, describe
from difychat.server.api.knowledge.context import authenticate, dataset_in_path
from difychat.server.api.knowledge.schemas import TagBinding, TagCreate, TagDelete, TagUnbinding, TagUpdate
from difychat.server.api.parsing import json_body, validate
from difychat.server.api.responses import JSON, no_content
from difychat.server.api.wire import knowledge_meta as wire


async def _body(request: Request) -> dict[str, object]:
    return await json_body(request, services(request).max_json_body_bytes)


@describe(
    "List tags",
    KNOWLEDGE_TAGS,
    description="Every tag, newest first; `binding_count` counts the datasets the key reaches.",
    response=list[wire.Tag],
)
async def list_tags(request: Request) -> Response:
    found, caller = await authenticate(request)
    return JSON([wire.tag_in_list(tag) for tag in await found.tags.listing(caller)])


@describe(
    "Create a tag",
    KNOWLEDGE_TAGS,
    description="A name of 1 to 50 characters.",
    body=TagCreate,
    response=wire.Tag,
)
async def create_tag(request: Request) -> Response:
    found, _ = await authenticate(request)
    body = validate(TagCreate, await _body(request))
    return JSON(wire.tag(await found.tags.create(body.name)))


@describe(
    "Rename a tag",
    KNOWLEDGE_TAGS,
    description="A key limited to named datasets may not rename a tag other datasets carry.",
    body=TagUpdate,
    response=wire.Tag,
)
async def update_tag(request: Request) -> Response:
    found, caller = await authenticate(request)
    body = validate(TagUpdate, await _body(request))
    return JSON(wire.tag(await found.tags.rename(caller, body.tag_id, body.name)))


@describe(
    "Delete a tag",
    KNOWLEDGE_TAGS,
    description="Unbinds it from every dataset; a key limited to named datasets may not delete a tag "
    "other datasets carry.",
    body=TagDelete,
    status=204,
)
async def delete_tag(request: Request) -> Response:
    found, caller = await authenticate(request)
    body = validate(TagDelete, await _body(request))
    await found.tags.delete(caller, body.tag_id)
    return no_content()


@describe(
    "Bind tags to a dataset",
    KNOWLEDGE_TAGS,
    description="`target_id` is the dataset; tags it already carries stay as they are.",
    body=TagBinding,
    status=204,
)
async def bind_tags(request: Request) -> Response:
    found, caller = await authenticate(request)
    body = validate(TagBinding, await _body(request))
    await found.tags.bind(caller, body.tag_ids, body.target_id)
    return no_content()


@describe(
    "Unbind a tag from a dataset",
    KNOWLEDGE_TAGS,
    description="`tag_id` (or a list in `tag_ids`) from the dataset `target_id`.",
    body=TagUnbinding,
    status=204,
)
async def unbind_tags(request: Request) -> Response:
    found, caller = await authenticate(request)
    body = validate(TagUnbinding, await _body(request))
    await found.tags.unbind(caller, body.ids(), body.target_id)
    return no_content()


@describe("A dataset's tags", KNOWLEDGE_TAGS, response=wire.BoundTags)
async def dataset_tags(request: Request) -> Response:
    found, _, dataset = await dataset_in_path(request)
    return JSON(wire.bound_tags(await found.tags.of_dataset(dataset.id)))
