"""GET /conversations/{id}/variables and PUT /conversations/{id}/variables/{variable_id}."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fakes.upstream import FakeUpstream
from tests.integration.conftest import PLAIN_KEY, RunningServer, ServerFactory, apps_file
from tests.integration.helpers import assert_error, new_conversation, random_id

pytestmark = pytest.mark.anyio

VARS_KEY = "app-variablesvariablesvari01"
VARS_OTHER_KEY = "app-variablesothervariabl01"
ITEM_KEYS = ["id", "name", "value_type", "value", "description", "created_at", "updated_at"]

DECLARED: list[dict[str, Any]] = [
    {"name": "customer_name", "value_type": "string", "value": "John", "description": "Who is asking"},
    {"name": "order_count", "value_type": "integer", "value": 2},
    {"name": "discount", "value_type": "number", "value": 0.5},
    {"name": "is_vip", "value_type": "boolean", "value": True},
    {"name": "profile", "value_type": "object", "value": {"tier": "gold", "since": 2020}},
    {"name": "tags", "value_type": "array[string]", "value": ["a", "b"]},
    {"name": "scores", "value_type": "array[number]"},
    {"name": "Customer_Email", "value_type": "secret"},
]


@pytest.fixture
async def server(make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream) -> RunningServer:
    data = apps_file(upstream)
    model = {"provider": "openai", "name": "fake-model", "base_url": upstream.base_url, "api_key": "sk-test"}
    data["apps"] += [
        {"name": "Vars", "api_keys": [VARS_KEY], "model": model, "conversation_variables": DECLARED},
        {
            "name": "Vars 2",
            "api_keys": [VARS_OTHER_KEY],
            "model": model,
            "conversation_variables": DECLARED[:1],
        },
    ]
    (tmp_path / "apps.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return await make_server()


async def list_variables(client: httpx.AsyncClient, conversation_id: str, **params: Any) -> dict[str, Any]:
    response = await client.get(
        f"/conversations/{conversation_id}/variables", params={"user": "u1", **params}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_declared_variables_are_listed_in_order_with_string_values(server: RunningServer) -> None:
    async with server.client(VARS_KEY) as client:
        conversation_id = await new_conversation(client, "u1")
        body = await list_variables(client, conversation_id)
    assert list(body) == ["limit", "has_more", "data"]
    assert body["limit"] == 20 and body["has_more"] is False
    items = body["data"]
    assert all(list(item) == ITEM_KEYS for item in items)
    assert [(i["name"], i["value_type"], i["value"]) for i in items] == [
        ("customer_name", "string", "John"),
        ("order_count", "number", "2"),
        ("discount", "number", "0.5"),
        ("is_vip", "boolean", "True"),
        ("profile", "object", "{'tier': 'gold', 'since': 2020}"),
        ("tags", "array[string]", "['a', 'b']"),
        ("scores", "array[number]", "[]"),
        ("Customer_Email", "secret", ""),
    ]
    assert items[0]["description"] == "Who is asking" and items[1]["description"] == ""
    assert all(isinstance(i["created_at"], int) and isinstance(i["updated_at"], int) for i in items)


async def test_each_conversation_has_its_own_rows(server: RunningServer) -> None:
    async with server.client(VARS_KEY) as client:
        first = await new_conversation(client, "u1")
        second = await new_conversation(client, "u1")
        a = (await list_variables(client, first))["data"]
        b = (await list_variables(client, second))["data"]
        again = (await list_variables(client, first))["data"]
    assert {i["id"] for i in a}.isdisjoint({i["id"] for i in b})
    assert [i["id"] for i in again] == [i["id"] for i in a]


async def test_apps_without_declared_variables_list_nothing(server: RunningServer) -> None:
    async with server.client(PLAIN_KEY) as client:
        conversation_id = await new_conversation(client, "u1")
        body = await list_variables(client, conversation_id)
    assert body == {"limit": 20, "has_more": False, "data": []}


async def test_keyset_paging_with_last_id(server: RunningServer) -> None:
    async with server.client(VARS_KEY) as client:
        conversation_id = await new_conversation(client, "u1")
        names: list[str] = []
        last_id = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 3}
            if last_id:
                params["last_id"] = last_id
            body = await list_variables(client, conversation_id, **params)
            pages += 1
            assert body["limit"] == 3
            names += [i["name"] for i in body["data"]]
            if not body["has_more"]:
                break
            last_id = body["data"][-1]["id"]
    assert pages == 3
    assert names == [d["name"] for d in DECLARED]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "many"])
async def test_limit_out_of_range_is_invalid(server: RunningServer, limit: str) -> None:
    async with server.client(VARS_KEY) as client:
        conversation_id = await new_conversation(client, "u1")
        response = await client.get(
            f"/conversations/{conversation_id}/variables", params={"user": "u1", "limit": limit}
        )
    assert_error(response, 400, "invalid_param")


@pytest.mark.parametrize("limit", [1, 100])
async def test_limit_bounds_are_accepted(server: RunningServer, limit: int) -> None:
    async with server.client(VARS_KEY) as client:
        conversation_id = await new_conversation(client, "u1")
        body = await list_variables(client, conversation_id, limit=limit)
    assert len(body["data"]) == min(limit, len(DECLARED))
    assert body["has_more"] is (limit < len(DECLARED))


@pytest.mark.parametrize("last_id", ["not-a-uuid", "unknown", "other-conversation"])
async def test_bad_last_id_is_invalid(server: RunningServer, last_id: str) -> None:
    async with server.client(VARS_KEY) as client:
        conversation_id = await new_conversation(client, "u1")
        other = await new_conversation(client, "u1")
        other_id = (await list_variables(client, other))["data"][0]["id"]
        value = {"not-a-uuid": "not-a-uuid", "unknown": random_id(), "other-conversation": other_id}[last_id]
        response = await client.get(
            f"/conversations/{conversation_id}/variables", params={"user": "u1", "last_id": value}
        )
    assert_error(response, 400, "invalid_param")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("customer", ["customer_name", "Customer_Email"]),
        ("CUSTOMER_E", ["Customer_Email"]),
        ("_", ["customer_name", "order_count", "is_vip", "Customer_Email"]),
        ("s", ["customer_name", "discount", "is_vip", "tags", "scores", "Customer_Email"]),
        ("order.count", []),
        ("nothing", []),
    ],
)
async def test_variable_name_is_a_case_insensitive_substring(
    server: RunningServer, name: str, expected: list[str]
) -> None:
    async with server.client(VARS_KEY) as client:
        conversation_id = await new_conversation(client, "u1")
        body = await list_variables(client, conversation_id, variable_name=name)
    assert [i["name"] for i in body["data"]] == expected


@pytest.mark.parametrize(
    "name",
    ["", "a" * 256, "a b", "name'", 'x"y', "a;b", "a--b", "a/*b", "XP_cmd", "sp_who", "a%b", "a*b"],
)
async def test_bad_variable_name_filters_are_refused(server: RunningServer, name: str) -> None:
    async with server.client(VARS_KEY) as client:
        conversation_id = await new_conversation(client, "u1")
        response = await client.get(
            f"/conversations/{conversation_id}/variables", params={"user": "u1", "variable_name": name}
        )
    assert_error(response, 400, "invalid_param")


@pytest.mark.parametrize("case", ["unknown", "malformed", "other-user", "other-app", "no-user"])
async def test_conversation_not_owned_is_not_found(server: RunningServer, case: str) -> None:
    async with server.client(VARS_KEY) as client:
        mine = await new_conversation(client, "u1")
        await new_conversation(client, "u2")
    async with server.client(VARS_OTHER_KEY) as client:
        foreign = await new_conversation(client, "u1")
    conversation_id, params = {
        "unknown": (random_id(), {"user": "u1"}),
        "malformed": ("abc", {"user": "u1"}),
        "other-user": (mine, {"user": "u2"}),
        "other-app": (foreign, {"user": "u1"}),
        "no-user": (mine, {}),
    }[case]
    async with server.client(VARS_KEY) as client:
        listed = await client.get(f"/conversations/{conversation_id}/variables", params=params)
        updated = await client.put(
            f"/conversations/{conversation_id}/variables/{random_id()}", json={"value": "x", **params}
        )
    assert_error(listed, 404, "not_found", "Conversation Not Exists.")
    assert_error(updated, 404, "not_found", "Conversation Not Exists.")


async def test_update_sets_the_value_and_returns_the_item(server: RunningServer) -> None:
    async with server.client(VARS_KEY) as client:
        conversation_id = await new_conversation(client, "u1")
        items = {i["name"]: i for i in (await list_variables(client, conversation_id))["data"]}
        updates = {
            "customer_name": ("Jane", "Jane"),
            "order_count": (7.5, "7.5"),  # an integer variable accepts any number
            "is_vip": (False, "False"),
            "profile": ({"tier": "silver"}, "{'tier': 'silver'}"),
            "tags": (["x"], "['x']"),
            "scores": ([1, 2.5], "[1, 2.5]"),
        }
        for name, (value, text) in updates.items():
            response = await client.put(
                f"/conversations/{conversation_id}/variables/{items[name]['id']}",
                json={"value": value, "user": "u1"},
            )
            assert response.status_code == 200, response.text
            body = response.json()
            assert list(body) == ITEM_KEYS
            assert body["id"] == items[name]["id"] and body["name"] == name
            assert body["value"] == text
            assert body["updated_at"] >= items[name]["updated_at"]
            assert body["created_at"] == items[name]["created_at"]
        listed = {i["name"]: i["value"] for i in (await list_variables(client, conversation_id))["data"]}
    assert listed["customer_name"] == "Jane" and listed["profile"] == "{'tier': 'silver'}"
    assert listed["discount"] == "0.5"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("customer_name", 5, "Type mismatch: variable 'customer_name' expects string, but got integer type"),
        ("order_count", "ten", "Type mismatch: variable 'order_count' expects number, but got string type"),
        ("discount", True, "Type mismatch: variable 'discount' expects number, but got boolean type"),
        ("is_vip", "yes", "Type mismatch: variable 'is_vip' expects boolean, but got string type"),
        ("profile", [1], "Type mismatch: variable 'profile' expects object, but got array type"),
        ("tags", ["a", 1], "Type mismatch: variable 'tags' expects array[string], but got array type"),
        ("customer_name", None, "Type mismatch: variable 'customer_name' expects string, but got null type"),
    ],
)
async def test_type_mismatch_is_a_bad_request(
    server: RunningServer, name: str, value: Any, message: str
) -> None:
    async with server.client(VARS_KEY) as client:
        conversation_id = await new_conversation(client, "u1")
        items = {i["name"]: i for i in (await list_variables(client, conversation_id))["data"]}
        response = await client.put(
            f"/conversations/{conversation_id}/variables/{items[name]['id']}",
            json={"value": value, "user": "u1"},
        )
        after = {i["name"]: i["value"] for i in (await list_variables(client, conversation_id))["data"]}
    assert_error(response, 400, "bad_request", message)
    assert after[name] == items[name]["value"]


@pytest.mark.parametrize("variable", ["unknown", "malformed", "other-conversation"])
async def test_unknown_variable_is_not_found(server: RunningServer, variable: str) -> None:
    async with server.client(VARS_KEY) as client:
        conversation_id = await new_conversation(client, "u1")
        other = await new_conversation(client, "u1")
        other_id = (await list_variables(client, other))["data"][0]["id"]
        variable_id = {"unknown": random_id(), "malformed": "zzz", "other-conversation": other_id}[variable]
        response = await client.put(
            f"/conversations/{conversation_id}/variables/{variable_id}", json={"value": "x", "user": "u1"}
        )
    assert_error(response, 404, "not_found", "Conversation Variable Not Exists.")


async def test_update_body_errors(server: RunningServer) -> None:
    async with server.client(VARS_KEY) as client:
        conversation_id = await new_conversation(client, "u1")
        variable_id = (await list_variables(client, conversation_id))["data"][0]["id"]
        url = f"/conversations/{conversation_id}/variables/{variable_id}"
        missing = await client.put(url, json={"user": "u1"})
        not_json = await client.put(url, content=b"value=x", headers={"content-type": "text/plain"})
        broken = await client.put(url, content=b"{", headers={"content-type": "application/json"})
    assert_error(missing, 400, "invalid_param")
    assert_error(not_json, 415, "unsupported_media_type")
    assert_error(broken, 400, "bad_request")


async def test_variables_go_with_their_conversation(server: RunningServer) -> None:
    async with server.client(VARS_KEY) as client:
        conversation_id = await new_conversation(client, "u1")
        await list_variables(client, conversation_id)
        deleted = await client.request("DELETE", f"/conversations/{conversation_id}", json={"user": "u1"})
        assert deleted.status_code == 204
        response = await client.get(f"/conversations/{conversation_id}/variables", params={"user": "u1"})
    assert_error(response, 404, "not_found", "Conversation Not Exists.")


async def test_a_variable_set_while_its_conversation_is_deleted_is_set_or_not_found(
    server: RunningServer,
) -> None:
    outcomes = []
    async with server.client(VARS_KEY) as client:
        for n in range(6):
            conversation_id = await new_conversation(client, "u1")
            items = {i["name"]: i for i in (await list_variables(client, conversation_id))["data"]}
            path = f"/conversations/{conversation_id}/variables/{items['customer_name']['id']}"
            updated, deleted = await asyncio.gather(
                client.put(path, json={"value": f"Jane {n}", "user": "u1"}),
                client.request("DELETE", f"/conversations/{conversation_id}", json={"user": "u1"}),
            )
            outcomes.append((updated.status_code, deleted.status_code))
        for _ in range(6):  # listed for the first time (its rows made) while it is deleted
            conversation_id = await new_conversation(client, "u1")
            listed, deleted = await asyncio.gather(
                client.get(f"/conversations/{conversation_id}/variables", params={"user": "u1"}),
                client.request("DELETE", f"/conversations/{conversation_id}", json={"user": "u1"}),
            )
            outcomes.append((listed.status_code, deleted.status_code))
    assert set(outcomes) <= {(200, 204), (404, 204)}, outcomes
