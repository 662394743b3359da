"""Metadata: /datasets/{dataset_id}/metadata (fields), …/metadata/built-in (the built-in fields and
their switch) and POST …/documents/metadata (documents' values)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from difychat.server.api.context import services
from difychat.server.api.described import KNOWLEDGE_METADATA, Param, describe
from difychat.server.api.ids import path_id
from difychat.server.api.knowledge.context import dataset_in_path
from difychat.server.api.knowledge.schemas import DocumentsMetadata, MetadataCreate, MetadataUpdate
from difychat.server.api.parsing import json_body, validate
from difychat.server.api.responses import JSON, SUCCESS, Success, no_content
from difychat.server.api.wire import knowledge_meta as wire
from difychat.server.errors import InvalidAction, NotFound
from difychat.server.services.knowledge.metadata import METADATA_NOT_FOUND, DocumentChange, ValueChange

BUILT_IN_ACTIONS = ("enable", "disable")


async def _body(request: Request) -> dict[str, object]:
    return await json_body(request, services(request).max_json_body_bytes)


@describe(
    "Create a metadata field",
    KNOWLEDGE_METADATA,
    description="`type` `string`, `number` or `time`; the name is unique in the dataset and no built-in "
    "field's.",
    body=MetadataCreate,
    response=wire.MetadataFieldBody,
    status=201,
)
async def create_field(request: Request) -> Response:
    found, _, dataset = await dataset_in_path(request)
    body = validate(MetadataCreate, await _body(request))
    field = await found.metadata.create(dataset.id, body.type, body.name)
    return JSON(wire.metadata_field(field), status_code=201)


@describe(
    "A dataset's metadata fields",
    KNOWLEDGE_METADATA,
    description="Each with how many documents carry it, and whether the built-in fields are on.",
    response=wire.MetadataFields,
)
async def list_fields(request: Request) -> Response:
    found, _, dataset = await dataset_in_path(request)
    fields = await found.metadata.fields(dataset.id)
    return JSON(wire.metadata_fields(fields, dataset.built_in_field_enabled))


@describe(
    "Rename a metadata field",
    KNOWLEDGE_METADATA,
    description="Documents keep their values under the new name.",
    body=MetadataUpdate,
    response=wire.MetadataFieldBody,
)
async def rename_field(request: Request) -> Response:
    found, _, dataset = await dataset_in_path(request)
    metadata_id = path_id(request, "metadata_id", NotFound, METADATA_NOT_FOUND)
    body = validate(MetadataUpdate, await _body(request))
    return JSON(wire.metadata_field(await found.metadata.rename(dataset.id, metadata_id, body.name)))


@describe(
    "Delete a metadata field",
    KNOWLEDGE_METADATA,
    description="Its value goes from every document that carried it.",
    status=204,
)
async def delete_field(request: Request) -> Response:
    found, _, dataset = await dataset_in_path(request)
    metadata_id = path_id(request, "metadata_id", NotFound, METADATA_NOT_FOUND)
    await found.metadata.delete(dataset.id, metadata_id)
    return no_content()


@describe("The built-in metadata fields", KNOWLEDGE_METADATA, response=wire.BuiltInFields)
async def built_in_fields(request: Request) -> Response:
    await dataset_in_path(request)
    return JSON(wire.built_in_fields())


@describe(
    "Turn the built-in metadata fields on or off",
    KNOWLEDGE_METADATA,
    description="On, documents show their name, uploader, dates and source among their metadata.",
    path={"action": Param({"type": "string", "enum": list(BUILT_IN_ACTIONS)})},
    response=Success,
)
async def switch_built_in(request: Request) -> Response:
    found, _, dataset = await dataset_in_path(request)
    action = request.path_params["action"]
    if action not in BUILT_IN_ACTIONS:
        raise InvalidAction()
    await found.metadata.set_built_in(dataset.id, action == "enable")
    return JSON(SUCCESS)


@describe(
    "Set documents' metadata",
    KNOWLEDGE_METADATA,
    description="Per document, the values of the fields named by id; `partial_update` keeps the fields "
    "not named, else they are cleared. An unknown document or field changes nothing.",
    body=DocumentsMetadata,
    response=Success,
)
async def update_documents(request: Request) -> Response:
    found, _, dataset = await dataset_in_path(request)
    body = validate(DocumentsMetadata, await _body(request))
    changes = [
        DocumentChange(
            op.document_id, [ValueChange(item.id, item.value) for item in op.metadata_list], op.partial_update
        )
        for op in body.operation_data
    ]
    await found.metadata.update_documents(dataset.id, changes)
    return JSON(SUCCESS)
