"""Every method sends what the wire contract says and reads back the documented shape.

The same table drives the sync and the async client, so the twins cannot drift apart.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from difychat import AsyncDifyChat, DifyChat
from difychat.types import (
    Annotation,
    AnnotationPage,
    AnnotationReplyJob,
    AppFeedbackPage,
    AppInfo,
    AppMeta,
    AppParameters,
    AppSite,
    ChatMessage,
    Conversation,
    ConversationPage,
    ConversationVariable,
    ConversationVariablePage,
    FileContent,
    MessagePage,
)
from tests.unit.client.client_fakes import FakeServer

CONVERSATION = {
    "id": "c0ffee00",
    "name": "Greeting",
    "inputs": {"name": "dify"},
    "status": "normal",
    "introduction": "Hi",
    "created_at": 1735689600,
    "updated_at": 1735689700,
}
BLOCKING = {
    "event": "message",
    "task_id": "t1",
    "id": "m1",
    "message_id": "m1",
    "conversation_id": "c1",
    "mode": "chat",
    "answer": "Hello!",
    "metadata": {
        "annotation_reply": None,
        "retriever_resources": [],
        "usage": {
            "prompt_tokens": 12,
            "prompt_price": "0.0000120",
            "total_price": "0.0000300",
            "total_tokens": 21,
            "currency": "USD",
            "latency": 0.81,
        },
    },
    "created_at": 1735689600,
}
MESSAGE = {
    "id": "m1",
    "conversation_id": "c1",
    "parent_message_id": "00000000-0000-0000-0000-000000000000",
    "inputs": {},
    "query": "What is Dify?",
    "answer": "A platform",
    "feedback": {"rating": "like"},
    "retriever_resources": [],
    "created_at": 1735689600,
    "agent_thoughts": [],
    "message_files": [
        {
            "id": "f1",
            "filename": "cat.png",
            "type": "image",
            "url": "https://x/cat.png",
            "mime_type": "image/png",
            "size": 48213,
            "transfer_method": "local_file",
            "belongs_to": "user",
            "upload_file_id": "u1",
        }
    ],
    "status": "normal",
    "error": None,
}
VARIABLE = {
    "id": "v1",
    "name": "customer_name",
    "value_type": "string",
    "value": "John",
    "description": "",
    "created_at": 1735689600,
    "updated_at": 1735689600,
}
ANNOTATION = {
    "id": "a1",
    "question": "What is your name?",
    "answer": "I am Dify.",
    "hit_count": 0,
    "created_at": 1735625869,
}
UPLOAD = {
    "id": "u1",
    "name": "report.pdf",
    "size": 5,
    "extension": "pdf",
    "mime_type": "application/pdf",
    "created_by": "eu1",
    "created_at": 1735689600,
    "preview_url": None,
    "source_url": "https://x/s",
    "original_url": None,
    "user_id": None,
    "tenant_id": "t",
    "conversation_id": None,
    "file_key": None,
}
PARAMETERS = {
    "opening_statement": "Hi!",
    "suggested_questions": ["What can you do?"],
    "suggested_questions_after_answer": {"enabled": True},
    "speech_to_text": {"enabled": False},
    "text_to_speech": {"enabled": False, "voice": "alloy", "language": "en-US", "autoPlay": "disabled"},
    "retriever_resource": {"enabled": True},
    "annotation_reply": {"enabled": False},
    "more_like_this": {"enabled": False},
    "user_input_form": [{"text-input": {"label": "Name", "variable": "name", "required": True}}],
    "sensitive_word_avoidance": {"enabled": False, "type": "", "configs": []},
    "file_upload": {"image": {"enabled": False}},
    "system_parameters": {"file_size_limit": 15},
}


@dataclass
class Case:
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    reply: httpx.Response
    http_method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None
    result_type: type | None = None


def ok(payload: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=payload)


CASES = [
    Case(
        "send_message",
        ("Hello",),
        {"inputs": {"name": "x"}, "auto_generate_name": False},
        ok(BLOCKING),
        "POST",
        "/v1/chat-messages",
        body={
            "inputs": {"name": "x"},
            "query": "Hello",
            "response_mode": "blocking",
            "user": "alice",
            "auto_generate_name": False,
        },
        result_type=ChatMessage,
    ),
    Case(
        "stop_stream",
        ("task/1",),
        {},
        ok({"result": "success"}),
        "POST",
        "/v1/chat-messages/task%2F1/stop",
        body={"user": "alice"},
    ),
    Case(
        "message_feedback",
        ("m1", "like"),
        {"content": "great"},
        ok({"result": "success"}),
        "POST",
        "/v1/messages/m1/feedbacks",
        body={"rating": "like", "user": "alice", "content": "great"},
    ),
    Case(
        "message_feedback",
        ("m1", None),
        {},
        ok({"result": "success"}),
        "POST",
        "/v1/messages/m1/feedbacks",
        body={"rating": None, "user": "alice", "content": None},
    ),
    Case(
        "app_feedbacks",
        (),
        {"page": 2, "limit": 50},
        ok({"data": []}),
        "GET",
        "/v1/app/feedbacks",
        query={"page": "2", "limit": "50"},
        result_type=AppFeedbackPage,
    ),
    Case(
        "conversations",
        (),
        {"last_id": "c9", "limit": 5, "sort_by": "-created_at"},
        ok({"limit": 5, "has_more": True, "data": [CONVERSATION]}),
        "GET",
        "/v1/conversations",
        query={"user": "alice", "last_id": "c9", "limit": "5", "sort_by": "-created_at"},
        result_type=ConversationPage,
    ),
    Case(
        "messages",
        ("c1",),
        {"first_id": "m9", "limit": 20},
        ok({"limit": 20, "has_more": False, "data": [MESSAGE]}),
        "GET",
        "/v1/messages",
        query={"conversation_id": "c1", "user": "alice", "first_id": "m9", "limit": "20"},
        result_type=MessagePage,
    ),
    Case(
        "suggested_questions",
        ("m1",),
        {},
        ok({"result": "success", "data": ["A?", "B?"]}),
        "GET",
        "/v1/messages/m1/suggested",
        query={"user": "alice"},
        result_type=list,
    ),
    Case(
        "delete_conversation",
        ("c1",),
        {},
        httpx.Response(204),
        "DELETE",
        "/v1/conversations/c1",
        body={"user": "alice"},
    ),
    Case(
        "delete_conversation",
        ("c1",),
        {},
        ok({"result": "success"}),
        "DELETE",
        "/v1/conversations/c1",
        body={"user": "alice"},
    ),
    Case(
        "rename_conversation",
        ("c1", "Trip"),
        {},
        ok(CONVERSATION),
        "POST",
        "/v1/conversations/c1/name",
        body={"name": "Trip", "auto_generate": False, "user": "alice"},
        result_type=Conversation,
    ),
    Case(
        "rename_conversation",
        ("c1",),
        {"auto_generate": True},
        ok(CONVERSATION),
        "POST",
        "/v1/conversations/c1/name",
        body={"auto_generate": True, "user": "alice"},
        result_type=Conversation,
    ),
    Case(
        "conversation_variables",
        ("c1",),
        {"variable_name": "customer", "limit": 10},
        ok({"limit": 10, "has_more": False, "data": [VARIABLE]}),
        "GET",
        "/v1/conversations/c1/variables",
        query={"user": "alice", "limit": "10", "variable_name": "customer"},
        result_type=ConversationVariablePage,
    ),
    Case(
        "update_conversation_variable",
        ("c1", "v1", "Jane"),
        {},
        ok(VARIABLE),
        "PUT",
        "/v1/conversations/c1/variables/v1",
        body={"value": "Jane", "user": "alice"},
        result_type=ConversationVariable,
    ),
    Case("parameters", (), {}, ok(PARAMETERS), "GET", "/v1/parameters", result_type=AppParameters),
    Case(
        "info",
        (),
        {},
        ok({"name": "My App", "description": "", "tags": ["support"], "mode": "chat", "author_name": "Jane"}),
        "GET",
        "/v1/info",
        result_type=AppInfo,
    ),
    Case(
        "meta", (), {}, ok({"tool_icons": {"dalle3": "https://icon"}}), "GET", "/v1/meta", result_type=AppMeta
    ),
    Case(
        "site",
        (),
        {},
        ok({"title": "My App", "icon_type": "emoji", "icon_url": None}),
        "GET",
        "/v1/site",
        result_type=AppSite,
    ),
    Case(
        "text_to_audio",
        (),
        {"text": "Hello", "voice": "alloy"},
        httpx.Response(200, content=b"ID3mp3", headers={"content-type": "audio/mpeg"}),
        "POST",
        "/v1/text-to-audio",
        body={"text": "Hello", "voice": "alloy", "user": "alice"},
        result_type=bytes,
    ),
    Case(
        "file_preview",
        ("u1",),
        {"as_attachment": True},
        httpx.Response(
            200,
            content=b"%PDF",
            headers={
                "content-type": "application/octet-stream",
                "content-disposition": "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf",
            },
        ),
        "GET",
        "/v1/files/u1/preview",
        query={"as_attachment": "true", "user": "alice"},
        result_type=FileContent,
    ),
    Case(
        "annotations",
        (),
        {"page": 1, "limit": 20, "keyword": "name"},
        ok({"data": [ANNOTATION], "has_more": False, "limit": 20, "total": 1, "page": 1}),
        "GET",
        "/v1/apps/annotations",
        query={"page": "1", "limit": "20", "keyword": "name"},
        result_type=AnnotationPage,
    ),
    Case(
        "create_annotation",
        ("Q?", "A."),
        {},
        ok(ANNOTATION, 201),
        "POST",
        "/v1/apps/annotations",
        body={"question": "Q?", "answer": "A."},
        result_type=Annotation,
    ),
    Case(
        "update_annotation",
        ("a1", "Q?", "A."),
        {},
        ok(ANNOTATION),
        "PUT",
        "/v1/apps/annotations/a1",
        body={"question": "Q?", "answer": "A."},
        result_type=Annotation,
    ),
    Case("delete_annotation", ("a1",), {}, httpx.Response(204), "DELETE", "/v1/apps/annotations/a1"),
    Case(
        "enable_annotation_reply",
        (),
        {"score_threshold": 0.9, "embedding_provider_name": "openai", "embedding_model_name": "te3"},
        ok({"job_id": "j1", "job_status": "waiting"}),
        "POST",
        "/v1/apps/annotation-reply/enable",
        body={"score_threshold": 0.9, "embedding_provider_name": "openai", "embedding_model_name": "te3"},
        result_type=AnnotationReplyJob,
    ),
    Case(
        "disable_annotation_reply",
        (),
        {"score_threshold": 0.5, "embedding_provider_name": "p", "embedding_model_name": "m"},
        ok({"job_id": "j2", "job_status": "processing"}),
        "POST",
        "/v1/apps/annotation-reply/disable",
        body={"score_threshold": 0.5, "embedding_provider_name": "p", "embedding_model_name": "m"},
        result_type=AnnotationReplyJob,
    ),
    Case(
        "annotation_reply_status",
        ("enable", "j1"),
        {},
        ok({"job_id": "j1", "job_status": "completed", "error_msg": ""}),
        "GET",
        "/v1/apps/annotation-reply/enable/status/j1",
        result_type=AnnotationReplyJob,
    ),
]


def check(case: Case, server: FakeServer, result: Any) -> None:
    request = server.last
    assert request.method == case.http_method
    assert request.url.raw_path.decode().split("?")[0] == case.path
    assert dict(request.url.params) == case.query
    assert request.headers["authorization"] == "Bearer app-test0000000000000000000000"
    if case.body is None:
        assert request.content == b""
    else:
        assert request.headers["content-type"] == "application/json"
        assert json.loads(request.content) == case.body
    if case.result_type is None:
        assert result is None
    else:
        assert isinstance(result, case.result_type)


def fresh(reply: httpx.Response) -> httpx.Response:
    # A response object is consumed by the client that receives it; each test gets its own copy.
    return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)


def case_id(case: Case) -> str:
    return f"{case.method}-{case.http_method}-{case.reply.status_code}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_sync_request_and_result(client: DifyChat, server: FakeServer, case: Case) -> None:
    server.add(fresh(case.reply))
    result = getattr(client, case.method)(*case.args, **case.kwargs)
    check(case, server, result)


@pytest.mark.anyio
@pytest.mark.parametrize("case", CASES, ids=case_id)
async def test_async_request_and_result(async_client: AsyncDifyChat, server: FakeServer, case: Case) -> None:
    server.add(fresh(case.reply))
    result = await getattr(async_client, case.method)(*case.args, **case.kwargs)
    check(case, server, result)


def test_sync_and_async_clients_have_the_same_methods_and_signatures() -> None:
    def public(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(getattr(cls, name))
            for name in dir(cls)
            if not name.startswith("_") and callable(getattr(cls, name)) and name not in {"close", "aclose"}
        }

    sync, asynchronous = public(DifyChat), public(AsyncDifyChat)
    assert sync.keys() == asynchronous.keys()
    for name, signature in sync.items():
        assert list(signature.parameters) == list(asynchronous[name].parameters), name
        if name != "with_options":
            assert inspect.iscoroutinefunction(getattr(AsyncDifyChat, name)), name


def test_every_method_has_a_docstring_with_an_example() -> None:
    for cls in (DifyChat, AsyncDifyChat):
        for name in dir(cls):
            member = getattr(cls, name)
            if name.startswith("_") or not callable(member):
                continue
            assert member.__doc__ and "Example::" in member.__doc__, f"{cls.__name__}.{name}"


def test_blocking_result_fields(client: DifyChat, server: FakeServer) -> None:
    server.add(ok({**BLOCKING, "something_new": {"x": 1}}))
    reply = client.send_message("Hello")
    assert reply.answer == "Hello!"
    assert reply.usage is not None
    assert str(reply.usage.prompt_price) == "0.0000120"
    assert reply.created_at == datetime(2025, 1, 1, tzinfo=UTC)
    assert reply.model_extra == {"something_new": {"x": 1}}


def test_blocking_result_with_only_id_fills_message_id(client: DifyChat, server: FakeServer) -> None:
    server.add(ok({"id": "m7", "answer": "x"}))
    assert client.send_message("x").message_id == "m7"


def test_conversation_id_is_sent_only_when_given(client: DifyChat, server: FakeServer) -> None:
    server.default = ok(BLOCKING)
    client.send_message("a")
    assert "conversation_id" not in server.last_json()
    assert "files" not in server.last_json()
    client.send_message("b", conversation_id="c1", user="bob")
    assert server.last_json()["conversation_id"] == "c1"
    assert server.last_json()["user"] == "bob"


def test_files_accept_chat_files_uploads_and_dicts(client: DifyChat, server: FakeServer) -> None:
    from difychat import ChatFile
    from difychat.types import UploadedFile

    server.add(ok(BLOCKING))
    upload = UploadedFile.model_validate(UPLOAD)
    client.send_message(
        "Look",
        files=[
            ChatFile.remote("https://x/cat.png"),
            upload,
            {"type": "audio", "transfer_method": "local_file", "upload_file_id": "u9"},
        ],
    )
    assert server.last_json()["files"] == [
        {"type": "image", "transfer_method": "remote_url", "url": "https://x/cat.png"},
        {"type": "document", "transfer_method": "local_file", "upload_file_id": "u1"},
        {"type": "audio", "transfer_method": "local_file", "upload_file_id": "u9"},
    ]


def test_feedback_timestamps_iso_and_epoch_read_the_same(client: DifyChat, server: FakeServer) -> None:
    feedback = {
        "id": "f1",
        "app_id": "a",
        "conversation_id": "c",
        "message_id": "m",
        "rating": "like",
        "content": "great",
        "from_source": "user",
        "from_end_user_id": "e",
        "from_account_id": None,
        "created_at": "2025-04-24T09:24:38.519412",
        "updated_at": "2025-04-24T09:24:38",
    }
    server.add(ok({"data": [feedback]}))
    item = client.app_feedbacks().data[0]
    assert item.created_at == datetime(2025, 4, 24, 9, 24, 38, 519412, tzinfo=UTC)
    assert item.updated_at is not None and item.updated_at.timestamp() == 1745486678


def test_json_null_instead_of_audio_is_not_found(client: DifyChat, server: FakeServer) -> None:
    from difychat import NotFoundError

    server.add(httpx.Response(200, content=b"null", headers={"content-type": "application/json"}))
    with pytest.raises(NotFoundError):
        client.text_to_audio(message_id="unknown")


def test_text_to_audio_needs_text_or_message_id(client: DifyChat, server: FakeServer) -> None:
    with pytest.raises(ValueError):
        client.text_to_audio()
    assert server.requests == []


def test_rename_needs_a_name_unless_auto_generating(client: DifyChat, server: FakeServer) -> None:
    with pytest.raises(ValueError):
        client.rename_conversation("c1")
    assert server.requests == []


def test_file_preview_reads_the_filename(client: DifyChat, server: FakeServer) -> None:
    server.add(fresh(CASES[[c.method for c in CASES].index("file_preview")].reply))
    preview = client.file_preview("u1")
    assert preview.filename == "résumé.pdf"
    assert preview.content == b"%PDF"
