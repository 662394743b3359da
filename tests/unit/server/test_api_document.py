"""The server's OpenAPI document (``api/openapi.py``): every route of the table in it with its
methods and path parameters and nothing else, valid OpenAPI 3.1, the request examples the other
tests send accepted by it and by the described models, the wire serialisers' output matching the
declared response shapes, and ``docs/api.md`` made from it now."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel
from starlette.routing import BaseRoute, Mount, Route

from difychat.server.api import openapi
from difychat.server.api.described import Operation, describe, described
from difychat.server.api.openapi import build_document, query_params
from difychat.server.api.openapi_markdown import markdown
from difychat.server.api.routes import build_routes
from difychat.server.api.wire import annotations as annotation_wire
from difychat.server.api.wire import conversations, feedbacks, files, messages, variables
from difychat.server.domain.paging import NumberedPage, Page
from difychat.server.domain.records import (
    Annotation,
    AnnotationJob,
    ConversationVariable,
    Feedback,
    HistoryMessage,
    MessageFile,
    UploadFile,
)
from tests.api_document import find_operation, problems
from tests.unit.server.test_wire import WHEN, conversation, message, signed

REFERENCE = Path(__file__).resolve().parents[3] / "docs" / "api.md"
REGENERATE = "python -m difychat.server.api.openapi --markdown > docs/api.md"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document(build_routes())


def table(routes: list[BaseRoute], prefix: str = "") -> dict[tuple[str, str], Route]:
    """The route table's own account of its operations, walked here independently of the generator."""
    found: dict[tuple[str, str], Route] = {}
    for route in routes:
        if isinstance(route, Mount):
            found.update(table(list(route.routes), prefix + route.path))
        elif isinstance(route, Route):
            for method in route.methods or ():
                if method != "HEAD":
                    found[(method, prefix + route.path)] = route
    return found


def documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


def test_every_route_is_in_the_document_with_its_methods_and_nothing_else(document: dict[str, Any]) -> None:
    routes = set(table(build_routes()))
    assert documented(document) - routes == set(), "in the document, not in the route table"
    assert routes - documented(document) == set(), "in the route table, not in the document"


def test_path_parameters_are_those_of_the_route(document: dict[str, Any]) -> None:
    for (method, path), route in table(build_routes()).items():
        operation = document["paths"][path][method.lower()]
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
        assert sorted(names) == sorted(route.param_convertors), (method, path)


def test_a_route_without_a_description_is_refused() -> None:
    async def undescribed() -> None: ...

    with pytest.raises(LookupError, match="GET /v1/nothing .*undescribed.* has no @describe"):
        build_document([Mount("/v1", routes=[Route("/nothing", undescribed)])])


def test_routes_left_out_of_the_schema_stay_out() -> None:
    @describe("Shown", "Server")
    async def shown() -> None: ...

    async def hidden() -> None: ...

    routes = [Route("/shown", shown), Route("/hidden", hidden, include_in_schema=False)]
    assert list(build_document(routes)["paths"]) == ["/shown"]


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    definitions = pytest.importorskip("schemathesis.specs.openapi.definitions")
    meta = Draft202012Validator(definitions.OPENAPI_31)
    assert [error.message for error in meta.iter_errors(document)] == []
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)  # raises, naming the problem
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_schemathesis_reads_every_operation(document: dict[str, Any]) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    results = list(schemathesis.openapi.from_dict(document).get_all_operations())
    assert len(results) == len(documented(document))
    assert all(type(result).__name__ == "Ok" for result in results), results


def test_each_route_asks_for_the_key_its_path_needs(document: dict[str, Any]) -> None:
    public = {"/v1/", "/v1/openapi.json", "/api/passport", "/api/system-features", "/api/webapp/access-mode"}
    public |= {"/api/login/status"}
    for path, item in document["paths"].items():
        for operation in item.values():
            security = operation["security"]
            if path in public or not path.startswith(("/v1", "/api/")):
                assert security in ([], [{}, {"AppKey": []}]), path
            elif path.startswith("/v1/datasets"):
                assert security == [{"DatasetKey": []}], path
            elif path.startswith("/v1/"):
                assert security == [{"AppKey": []}], path
            else:
                assert security == [{"Passport": [], "AppCode": []}], path


def test_chat_and_completion_answers_may_stream(document: dict[str, Any]) -> None:
    for path in ("/v1/chat-messages", "/v1/completion-messages", "/api/chat-messages"):
        content = document["paths"][path]["post"]["responses"]["200"]["content"]
        assert set(content) == {"application/json", "text/event-stream"}, path
    streaming = [
        path
        for path, item in document["paths"].items()
        for op in item.values()
        if "text/event-stream" in op["responses"].get("200", {}).get("content", {})
    ]
    assert sorted(streaming) == ["/api/chat-messages", "/v1/chat-messages", "/v1/completion-messages"]


def test_errors_are_the_contracts_body(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]
    assert list(error["properties"]) == ["code", "message", "status"]
    assert error["required"] == ["code", "message", "status"] and error["additionalProperties"] is False
    without = set()
    for path, item in document["paths"].items():
        for method, op in item.items():
            if op["responses"].get("4XX") == {"$ref": "#/components/responses/Error"}:
                assert op["responses"]["5XX"] == op["responses"]["4XX"]
            else:
                without.add((method.upper(), path))
    # HTML pages and the JSON-RPC endpoint answer failures in their own way.
    assert without == {
        ("GET", "/chat/{code}"),
        ("GET", "/chatbot/{code}"),
        ("GET", "/embed.js"),
        ("GET", "/embed.min.js"),
        ("POST", "/mcp/server/{server_code}/mcp"),
    }


# Request bodies as the other tests send them (and Dify's SDKs: ``user`` beside the payload).
EXAMPLES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/chat-messages", {"inputs": {}, "query": "hello", "user": "u1"}),
    (
        "POST",
        "/v1/chat-messages",
        {
            "query": "read it",
            "inputs": {"name": "Ada"},
            "user": "u2",
            "response_mode": "streaming",
            "conversation_id": "",
            "auto_generate_name": False,
            "files": [{"type": "document", "transfer_method": "local_file", "upload_file_id": "f1"}],
        },
    ),
    (
        "POST",
        "/v1/completion-messages",
        {"inputs": {"query": "Write"}, "user": "u1", "response_mode": "blocking"},
    ),
    ("POST", "/v1/chat-messages/{task_id}/stop", {"user": "u1"}),
    ("POST", "/v1/messages/{message_id}/feedbacks", {"rating": "like", "user": "u1", "content": "good"}),
    ("POST", "/v1/messages/{message_id}/feedbacks", {"rating": None, "user": "u1"}),
    ("POST", "/v1/conversations/{conversation_id}/name", {"name": "Trip", "user": "u1"}),
    ("POST", "/v1/conversations/{conversation_id}/name", {"auto_generate": True, "user": "u1"}),
    ("PUT", "/v1/conversations/{conversation_id}/variables/{variable_id}", {"value": 3, "user": "u1"}),
    ("POST", "/v1/text-to-audio", {"text": "Hello", "user": "u1", "voice": "nova"}),
    ("POST", "/v1/text-to-audio", {"message_id": "m1", "user": "u1", "streaming": False}),
    ("POST", "/v1/apps/annotations", {"question": "q", "answer": "a"}),
    (
        "POST",
        "/v1/apps/annotation-reply/{action}",
        {"score_threshold": 0.9, "embedding_provider_name": "openai", "embedding_model_name": "e"},
    ),
    ("POST", "/v1/datasets", {"name": "Docs", "indexing_technique": "high_quality", "permission": "only_me"}),
    (
        "POST",
        "/v1/datasets/{dataset_id}/document/create-by-text",
        {
            "name": "intro",
            "text": "Paragraph.",
            "indexing_technique": "economy",
            "process_rule": {"mode": "automatic"},
        },
    ),
    ("POST", "/v1/datasets/{dataset_id}/documents/{document_id}/segments", {"segments": [{"content": "x"}]}),
    (
        "POST",
        "/v1/datasets/{dataset_id}/retrieve",
        {
            "query": "how do I reset my password",
            "retrieval_model": {
                "search_method": "semantic_search",
                "reranking_enable": False,
                "score_threshold_enabled": False,
                "top_k": 2,
            },
        },
    ),
    ("PATCH", "/v1/datasets/{dataset_id}/documents/status/{action}", {"document_ids": ["d1"]}),
    ("POST", "/api/chat-messages", {"inputs": {}, "query": "hi", "response_mode": "streaming"}),
]


@pytest.mark.parametrize(("method", "path", "body"), EXAMPLES, ids=[f"{m} {p}" for m, p, _ in EXAMPLES])
def test_request_examples_fit_the_document_and_the_described_model(
    document: dict[str, Any], method: str, path: str, body: dict[str, Any]
) -> None:
    schema = document["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]["schema"]
    assert problems(document, schema, body) == []
    route = table(build_routes())[(method, path)]
    operation = described(route.endpoint)
    assert operation is not None
    if isinstance(operation.body, type) and issubclass(operation.body, BaseModel):
        operation.body.model_validate(body)


def test_a_request_missing_what_is_required_is_refused_by_the_document(document: dict[str, Any]) -> None:
    schema = document["paths"]["/v1/chat-messages"]["post"]["requestBody"]["content"]["application/json"]
    assert problems(document, schema["schema"], {"inputs": {}, "query": "hi"}) == [
        "(root): 'user' is a required property"
    ]


def test_concrete_paths_find_their_operation(document: dict[str, Any]) -> None:
    ds = "/v1/datasets/4f1c1d2e-0000-4000-8000-000000000000"
    assert find_operation(document, "PATCH", ds + "/documents/status/enable")[0].endswith("/status/{action}")
    assert find_operation(document, "GET", ds + "/documents/123/indexing-status")[0].endswith(
        "/indexing-status"
    )
    with pytest.raises(LookupError):
        find_operation(document, "GET", "/v1/nowhere")


def component(document: dict[str, Any], name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def test_wire_serialisers_write_what_their_shapes_declare(document: dict[str, Any]) -> None:
    """Each serialiser's output has the declared keys in the declared order, and validates."""
    upload = UploadFile("f1", "a1", "u1", "cat.png", 3, "png", "image/png", "k", "h", WHEN)
    attached = MessageFile(
        "mf1", "m1", "image", "local_file", None, "f1", "cat.png", "image/png", 3, "user", 0, WHEN
    )
    history = HistoryMessage(message(), rating="like", files=[attached])
    variable = ConversationVariable("v1", "c1", "count", "integer", 2, "", WHEN, WHEN)
    feedback = Feedback("fb1", "a1", "c1", "m1", "like", None, "api", "u1", None, WHEN, WHEN)
    annotation = Annotation("an1", "q", "a", 0, WHEN)
    job = AnnotationJob("j1", "a1", "enable", "completed", "", 0.9, "openai", "e", WHEN, WHEN)
    samples: list[tuple[Any, type, dict[str, Any]]] = [
        (conversations, conversations.Conversation, conversations.conversation(conversation())),
        (
            conversations,
            conversations.ConversationPage,
            conversations.conversations(Page([conversation()], False, 20)),
        ),
        (messages, messages.MessagePage, messages.history(Page([history], False, 20), signed)),
        (messages, messages.SuggestedQuestions, messages.suggested(["Why?"])),
        (files, files.Upload, files.upload(upload, signed)),
        (variables, variables.VariablePage, variables.variables_page(Page([variable], False, 20))),
        (feedbacks, feedbacks.FeedbackList, feedbacks.feedbacks([feedback])),
        (
            annotation_wire,
            annotation_wire.AnnotationPage,
            annotation_wire.annotation_page(NumberedPage([annotation], 1, 20, 1)),
        ),
        (annotation_wire, annotation_wire.AnnotationJobStatus, annotation_wire.job_status(job)),
    ]
    for _, shape, body in samples:
        assert list(body) == list(shape.__annotations__), shape.__name__
        assert problems(document, component(document, shape.__name__), body) == [], shape.__name__
    page = samples[2][2]
    assert list(page["data"][0]) == list(messages.Message.__annotations__)
    assert list(page["data"][0]["message_files"][0]) == list(files.MessageFile.__annotations__)


def test_query_models_become_parameters_without_null() -> None:
    from difychat.server.api.schemas import ConversationsQuery

    params = query_params(ConversationsQuery)
    assert list(params) == ["last_id", "limit", "sort_by", "user"]
    assert dict(params["last_id"].schema) == {"type": "string"}
    assert params["limit"].schema["maximum"] == 100 and not params["limit"].required

    class Nested(BaseModel):
        inner: ConversationsQuery

    with pytest.raises(ValueError, match="plain values"):
        query_params(Nested)


def test_operations_are_described_where_the_handler_is() -> None:
    for (_, _), route in table(build_routes()).items():
        operation = described(route.endpoint)
        assert isinstance(operation, Operation), route.path
        assert operation.tag in openapi.TAGS, (route.path, operation.tag)


def test_docs_api_md_is_the_reference_the_document_makes_now(document: dict[str, Any]) -> None:
    made = markdown(document)
    assert REFERENCE.read_text(encoding="utf-8") == made, f"docs/api.md is out of date: run {REGENERATE}"


def test_the_module_prints_the_document_and_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    openapi.main([])
    printed = json.loads(capsys.readouterr().out)
    assert printed["openapi"] == "3.1.0" and "/v1/chat-messages" in printed["paths"]
    openapi.main(["--markdown"])
    assert capsys.readouterr().out.startswith("# API reference\n")
