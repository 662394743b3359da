"""The knowledge clients' tag and metadata methods send what the contract says and read back its
shapes; one table drives the sync and the async client."""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from difychat import AsyncDifyKnowledge, DifyKnowledge, RetryPolicy
from difychat._errors import APIStatusError
from difychat.types.knowledge import (
    BuiltInMetadataField,
    Dataset,
    DatasetPage,
    DatasetTags,
    Document,
    MetadataField,
    MetadataFields,
    Tag,
)
from tests.unit.client.client_fakes import FakeServer

KEY = "dataset-test0000000000000000000000"
BASE_URL = "https://kb.example/v1"
TAG = {"id": "t1", "name": "guide", "type": "knowledge", "binding_count": 0}
FIELD = {"id": "m1", "type": "string", "name": "author"}
DATASET = {
    "id": "d1",
    "name": "Docs",
    "tags": [{"id": "t1", "name": "guide", "type": "knowledge"}],
    "doc_metadata": [{"id": "m1", "name": "author", "type": "string"}],
    "built_in_field_enabled": True,
}


@dataclass
class Case:
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    reply: httpx.Response
    http_method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    body: Any = None
    result_type: type | None = None


def ok(payload: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=payload)


NO_CONTENT = httpx.Response(204)
SUCCESS = ok({"result": "success"})

CASES = [
    Case(
        "list_tags", (), {}, ok([{**TAG, "binding_count": "2"}]), "GET", "/v1/datasets/tags", result_type=list
    ),
    Case(
        "create_tag",
        ("guide",),
        {},
        ok(TAG),
        "POST",
        "/v1/datasets/tags",
        body={"name": "guide"},
        result_type=Tag,
    ),
    Case(
        "rename_tag",
        ("t1", "guides"),
        {},
        ok({**TAG, "name": "guides", "binding_count": 3}),
        "PATCH",
        "/v1/datasets/tags",
        body={"name": "guides", "tag_id": "t1"},
        result_type=Tag,
    ),
    Case("delete_tag", ("t1",), {}, NO_CONTENT, "DELETE", "/v1/datasets/tags", body={"tag_id": "t1"}),
    Case(
        "bind_tags",
        ("d1", ["t1", "t2"]),
        {},
        NO_CONTENT,
        "POST",
        "/v1/datasets/tags/binding",
        body={"tag_ids": ["t1", "t2"], "target_id": "d1"},
    ),
    Case(
        "unbind_tag",
        ("d1", "t1"),
        {},
        NO_CONTENT,
        "POST",
        "/v1/datasets/tags/unbinding",
        body={"tag_id": "t1", "target_id": "d1"},
    ),
    Case(
        "get_dataset_tags",
        ("d/1",),
        {},
        ok({"data": [{"id": "t1", "name": "guide"}], "total": 1}),
        "GET",
        "/v1/datasets/d%2F1/tags",
        result_type=DatasetTags,
    ),
    Case(
        "list_datasets",
        (),
        {"tag_ids": ["t1", "t2"]},
        ok({"data": [DATASET], "has_more": False, "limit": 20, "total": 1, "page": 1}),
        "GET",
        "/v1/datasets",
        query=[("page", "1"), ("limit", "20"), ("tag_ids", "t1"), ("tag_ids", "t2")],
        result_type=DatasetPage,
    ),
    Case(
        "create_metadata_field",
        ("d1", "year", "number"),
        {},
        ok({**FIELD, "type": "number", "name": "year"}, 201),
        "POST",
        "/v1/datasets/d1/metadata",
        body={"type": "number", "name": "year"},
        result_type=MetadataField,
    ),
    Case(
        "list_metadata_fields",
        ("d1",),
        {},
        ok({"doc_metadata": [{**FIELD, "count": 2}], "built_in_field_enabled": False}),
        "GET",
        "/v1/datasets/d1/metadata",
        result_type=MetadataFields,
    ),
    Case(
        "rename_metadata_field",
        ("d1", "m1", "writer"),
        {},
        ok({**FIELD, "name": "writer"}),
        "PATCH",
        "/v1/datasets/d1/metadata/m1",
        body={"name": "writer"},
        result_type=MetadataField,
    ),
    Case("delete_metadata_field", ("d1", "m1"), {}, NO_CONTENT, "DELETE", "/v1/datasets/d1/metadata/m1"),
    Case(
        "built_in_metadata_fields",
        ("d1",),
        {},
        ok({"fields": [{"name": "document_name", "type": "string"}]}),
        "GET",
        "/v1/datasets/d1/metadata/built-in",
        result_type=list,
    ),
    Case(
        "set_built_in_metadata", ("d1", True), {}, SUCCESS, "POST", "/v1/datasets/d1/metadata/built-in/enable"
    ),
    Case(
        "set_built_in_metadata",
        ("d1", False),
        {},
        SUCCESS,
        "POST",
        "/v1/datasets/d1/metadata/built-in/disable",
    ),
    Case(
        "update_document_metadata",
        ("d1", "doc1", [{"id": "m1", "name": "author", "value": "Ada"}, MetadataField(**FIELD)]),
        {"partial_update": True},
        SUCCESS,
        "POST",
        "/v1/datasets/d1/documents/metadata",
        body={
            "operation_data": [
                {
                    "document_id": "doc1",
                    "metadata_list": [
                        {"id": "m1", "name": "author", "value": "Ada"},
                        {"id": "m1", "name": "author", "value": None},
                    ],
                    "partial_update": True,
                }
            ]
        },
    ),
    Case(
        "update_documents_metadata",
        ("d1", [{"document_id": "doc1", "metadata_list": []}]),
        {},
        SUCCESS,
        "POST",
        "/v1/datasets/d1/documents/metadata",
        body={"operation_data": [{"document_id": "doc1", "metadata_list": []}]},
    ),
]


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def policy() -> RetryPolicy:
    return RetryPolicy(initial_delay=0.0, max_delay=0.0, jitter=0.0, sleep=lambda _: None)


@pytest.fixture
def kb(server: FakeServer, policy: RetryPolicy) -> Iterator[DifyKnowledge]:
    http = httpx.Client(transport=httpx.MockTransport(server))
    with DifyKnowledge(KEY, base_url=BASE_URL, retry_policy=policy, http_client=http) as client:
        yield client
    http.close()


@pytest.fixture
async def async_kb(server: FakeServer, policy: RetryPolicy) -> AsyncIterator[AsyncDifyKnowledge]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(server))
    async with AsyncDifyKnowledge(KEY, base_url=BASE_URL, retry_policy=policy, http_client=http) as client:
        yield client
    await http.aclose()


def fresh(reply: httpx.Response) -> httpx.Response:
    return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)


def check(case: Case, server: FakeServer, result: Any) -> None:
    request = server.last
    assert request.method == case.http_method
    assert request.url.raw_path.decode().split("?")[0] == case.path
    assert request.url.params.multi_items() == case.query
    assert request.headers["authorization"] == f"Bearer {KEY}"
    if case.body is None:
        assert request.content == b""
    else:
        assert request.headers["content-type"] == "application/json"
        assert json.loads(request.content) == case.body
    if case.result_type is None:
        assert result is None
    else:
        assert isinstance(result, case.result_type)


def case_id(case: Case) -> str:
    return f"{case.method}-{case.path.rsplit('/', 1)[-1]}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_sync_request_and_result(kb: DifyKnowledge, server: FakeServer, case: Case) -> None:
    server.add(fresh(case.reply))
    check(case, server, getattr(kb, case.method)(*case.args, **case.kwargs))


@pytest.mark.anyio
@pytest.mark.parametrize("case", CASES, ids=case_id)
async def test_async_request_and_result(async_kb: AsyncDifyKnowledge, server: FakeServer, case: Case) -> None:
    server.add(fresh(case.reply))
    check(case, server, await getattr(async_kb, case.method)(*case.args, **case.kwargs))


def test_tag_counts_read_as_numbers_whether_sent_as_text_or_not(
    kb: DifyKnowledge, server: FakeServer
) -> None:
    server.add(ok([{**TAG, "binding_count": "2"}, {**TAG, "id": "t2", "binding_count": None}]))
    assert [t.binding_count for t in kb.list_tags()] == [2, None]
    server.add(ok(TAG))
    assert kb.create_tag("guide").binding_count == 0


def test_datasets_and_documents_carry_tags_and_metadata(kb: DifyKnowledge, server: FakeServer) -> None:
    server.add(ok(DATASET))
    dataset = kb.get_dataset("d1")
    assert isinstance(dataset, Dataset)
    assert [t.name for t in dataset.tags] == ["guide"]
    assert [(f.id, f.name, f.type) for f in dataset.doc_metadata] == [("m1", "author", "string")]
    assert dataset.built_in_field_enabled is True
    items = [
        {"id": "m1", "name": "author", "type": "string", "value": "Ada"},
        {"id": "m2", "name": "year", "type": "number", "value": 1843},
        {"id": "built-in", "name": "upload_date", "type": "time", "value": "1735689600.0"},
    ]
    server.add(ok({"id": "doc1", "name": "intro", "indexing_status": "completed", "doc_metadata": items}))
    document = kb.get_document("d1", "doc1")
    assert isinstance(document, Document) and document.doc_metadata is not None
    assert [(m.name, m.value) for m in document.doc_metadata] == [
        ("author", "Ada"),
        ("year", 1843),
        ("upload_date", "1735689600.0"),
    ]
    server.add(ok({"id": "doc2", "name": "faq", "indexing_status": "waiting", "doc_metadata": None}))
    assert kb.get_document("d1", "doc2").doc_metadata is None


def test_built_in_fields_and_tag_lists_are_typed(kb: DifyKnowledge, server: FakeServer) -> None:
    server.add(
        ok({"fields": [{"name": "document_name", "type": "string"}, {"name": "upload_date", "type": "time"}]})
    )
    fields = kb.built_in_metadata_fields("d1")
    assert all(isinstance(f, BuiltInMetadataField) for f in fields)
    assert [f.type for f in fields] == ["string", "time"]
    server.add(ok([TAG]))
    assert all(isinstance(t, Tag) for t in kb.list_tags())


def test_errors_come_back_typed(kb: DifyKnowledge, server: FakeServer) -> None:
    server.add(ok({"code": "not_found", "message": "Tag not found", "status": 404}, 404))
    with pytest.raises(APIStatusError) as caught:
        kb.delete_tag("t9")
    assert caught.value.status_code == 404


def test_sync_and_async_knowledge_clients_have_the_same_methods() -> None:
    def public(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(getattr(cls, name))
            for name in dir(cls)
            if not name.startswith("_") and callable(getattr(cls, name)) and name not in {"close", "aclose"}
        }

    sync, asynchronous = public(DifyKnowledge), public(AsyncDifyKnowledge)
    assert sync.keys() == asynchronous.keys()
    for name, signature in sync.items():
        assert list(signature.parameters) == list(asynchronous[name].parameters), name
    for name in {case.method for case in CASES}:
        assert inspect.iscoroutinefunction(getattr(AsyncDifyKnowledge, name)), name
        doc = getattr(DifyKnowledge, name).__doc__
        assert doc and "Example::" in doc, name
