"""Reading OpenAPI documents into tools: names, parameters, bodies, and the problems that stop an app."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import yaml
from yarl import URL

from difychat.server.domain.agent import OpenAPIToolProvider
from difychat.server.domain.apps import AppConfig
from difychat.server.tools.base import ToolConfigError, ToolProvider
from difychat.server.tools.openapi import openapi_providers
from difychat.server.tools.openapi_document import parse_text, read
from difychat.server.tools.parameters import model_schema

PETSTORE: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Pets", "version": "1"},
    "servers": [{"url": "https://{region}.pets.example/v1", "variables": {"region": {"default": "eu"}}}],
    "paths": {
        "/pets": {
            "get": {
                "operationId": "listPets",
                "summary": "List the pets",
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}, "description": "at most"},
                    {"name": "kind", "in": "query", "schema": {"type": "string", "enum": ["cat", "dog"]}},
                    {"$ref": "#/components/parameters/Trace"},
                ],
            },
            "post": {
                "operationId": "create pet!",
                "description": "Add a pet",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewPet"}}},
                },
            },
        },
        "/pets/{petId}": {
            "parameters": [{"name": "petId", "in": "path", "schema": {"type": "string"}}],
            "get": {"summary": "One pet"},
        },
    },
    "components": {
        "parameters": {
            "Trace": {"name": "X-Trace", "in": "header", "required": True, "schema": {"type": "string"}}
        },
        "schemas": {
            "NewPet": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "description": "the pet's name"},
                    "tags": {"type": "array", "items": {"$ref": "#/components/schemas/Tag"}},
                    "vaccinated": {"type": "boolean"},
                },
            },
            "Tag": {"type": "string", "maxLength": 20},
        },
    },
}


def test_operations_become_tools_with_llm_parameters() -> None:
    document = read(parse_text(yaml.safe_dump(PETSTORE)))
    assert document.title == "Pets"
    assert document.server_url == URL("https://eu.pets.example/v1")
    assert [op.name for op in document.operations] == ["listPets", "create_pet", "get_pets_petId"]
    listing, create, one = document.operations
    assert (listing.method, listing.path, listing.description) == ("GET", "/pets", "List the pets")
    assert model_schema_of(listing) == {
        "type": "object",
        "properties": {
            "limit": {"type": "number", "description": "at most"},
            "kind": {"type": "string", "description": "", "enum": ["cat", "dog"]},
            "X-Trace": {"type": "string", "description": ""},
        },
        "required": ["X-Trace"],
    }
    assert [(a.name, a.location) for a in listing.arguments] == [
        ("limit", "query"),
        ("kind", "query"),
        ("X-Trace", "header"),
    ]
    schema = model_schema_of(create)
    assert schema["required"] == ["name"]
    assert schema["properties"]["tags"] == {"type": "array", "items": {"type": "string", "maxLength": 20}}
    assert create.body_type == "application/json" and create.description == "Add a pet"
    assert model_schema_of(one) == {
        "type": "object",
        "properties": {"petId": {"type": "string", "description": ""}},
        "required": ["petId"],
    }


def model_schema_of(operation: Any) -> dict[str, Any]:
    from difychat.server.tools.base import ToolSpec

    spec = ToolSpec("api", "pets", operation.name, operation.description, operation.parameters)
    parameters: dict[str, Any] = model_schema(spec)["parameters"]
    return parameters


def broken(**changes: Any) -> dict[str, Any]:
    return {**PETSTORE, **changes}


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("[1, 2]", "must be a mapping"),
        ("{not: [valid", "neither JSON nor YAML"),
        (yaml.safe_dump({"swagger": "2.0", "paths": {}}), "only OpenAPI 3 documents are supported"),
        (yaml.safe_dump(broken(paths={})), "has no paths"),
        (yaml.safe_dump(broken(paths={"/x": {"summary": "nothing"}})), "has no operations"),
        (
            yaml.safe_dump(
                broken(paths={"/a": {"get": {"operationId": "same"}, "post": {"operationId": "same"}}})
            ),
            "the tool name 'same' is already used by paths./a.get",
        ),
        (
            yaml.safe_dump(broken(paths={"/a/{id}": {"get": {"operationId": "a"}}})),
            "the path parameter 'id' is not declared",
        ),
        (
            yaml.safe_dump(
                broken(paths={"/a": {"get": {"parameters": [{"$ref": "#/components/parameters/Nope"}]}}})
            ),
            "points to nothing",
        ),
        (
            yaml.safe_dump(
                broken(paths={"/a": {"get": {"parameters": [{"$ref": "https://evil.example/p.json"}]}}})
            ),
            "only local $refs",
        ),
        (
            yaml.safe_dump(
                broken(
                    paths={"/a": {"get": {"parameters": [{"$ref": "#/components/parameters/Loop"}]}}},
                    components={"parameters": {"Loop": {"$ref": "#/components/parameters/Loop"}}},
                )
            ),
            "circular",
        ),
        (
            yaml.safe_dump(
                broken(
                    paths={
                        "/up": {
                            "post": {
                                "requestBody": {"required": True, "content": {"multipart/form-data": {}}},
                            }
                        }
                    }
                )
            ),
            "a required request body of type multipart/form-data cannot be sent",
        ),
        (yaml.safe_dump(broken(servers=[{"url": "ftp://pets.example"}])), "must be an http or https URL"),
    ],
)
def test_a_broken_document_is_a_load_error(document: str, problem: str) -> None:
    with pytest.raises(ToolConfigError) as refused:
        read(parse_text(document))
    assert problem in str(refused.value)


def test_the_app_names_the_entry_and_the_problem() -> None:
    config = AppConfig.model_validate(
        {
            "name": "Pets",
            "openapi_tools": [
                {"name": "pets", "openapi": yaml.safe_dump(PETSTORE)},
                {"name": "broken", "openapi": "openapi: '2.0'"},
            ],
        }
    )
    fine = AppConfig.model_validate(
        {"name": "Pets", "openapi_tools": [{"name": "pets", "openapi": yaml.safe_dump(PETSTORE)}]}
    )
    providers: Sequence[ToolProvider] = openapi_providers(fine)  # what the agent's registry takes
    assert [(p.provider_type, p.provider_id) for p in providers] == [("api", "pets")]
    with pytest.raises(ToolConfigError) as refused:
        openapi_providers(config)
    assert str(refused.value).startswith("openapi_tools[1] (broken): only OpenAPI 3 documents are supported")
    missing = OpenAPIToolProvider.model_validate({"name": "gone", "openapi_path": "/nonexistent/pets.yaml"})
    config = AppConfig.model_validate({"name": "Pets", "openapi_tools": [missing.model_dump()]})
    with pytest.raises(
        ToolConfigError, match=r"openapi_tools\[0\] \(gone\): cannot read the OpenAPI document"
    ):
        openapi_providers(config)
    keyless = {
        "name": "k",
        "openapi": yaml.safe_dump(PETSTORE),
        "credentials": {"auth_type": "api_key_header"},
    }
    with pytest.raises(ToolConfigError, match="api_key_value is required"):
        openapi_providers(AppConfig.model_validate({"name": "Pets", "openapi_tools": [keyless]}))


def test_a_document_without_an_absolute_server_cannot_be_called() -> None:
    relative = yaml.safe_dump({**PETSTORE, "servers": [{"url": "/v1"}]})
    assert read(parse_text(relative)).server_url is None
    assert read(parse_text(relative), base=URL("https://docs.example/spec.json")).server_url == URL(
        "https://docs.example/v1"
    )
    config = AppConfig.model_validate(
        {"name": "Pets", "openapi_tools": [{"name": "pets", "openapi": relative}]}
    )
    with pytest.raises(ToolConfigError, match=r"gives no absolute server URL \(servers\[0\]\.url\)"):
        openapi_providers(config)
