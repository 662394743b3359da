"""Wire serialisers: typed records in, the contract's keys in the contract's order out."""

from __future__ import annotations

from datetime import datetime

from difychat.server.api.wire import annotations as annotation_wire
from difychat.server.api.wire import conversations, feedbacks, files, messages, variables
from difychat.server.domain.paging import NumberedPage, Page
from difychat.server.domain.records import (
    Annotation,
    AnnotationJob,
    Conversation,
    ConversationVariable,
    Feedback,
    HistoryMessage,
    MessageFile,
    ShownMessage,
    UploadFile,
)

WHEN = datetime(2025, 1, 1, 0, 0, 0, 519412)
SECONDS = 1735689600
CONVERSATION_KEYS = ["id", "name", "inputs", "status", "introduction", "created_at", "updated_at"]
MESSAGE_KEYS = [
    "id",
    "conversation_id",
    "parent_message_id",
    "inputs",
    "query",
    "answer",
    "feedback",
    "retriever_resources",
    "created_at",
    "agent_thoughts",
    "message_files",
    "status",
    "error",
]
MESSAGE_FILE_KEYS = [
    "id",
    "filename",
    "type",
    "url",
    "mime_type",
    "size",
    "transfer_method",
    "belongs_to",
    "upload_file_id",
]
UPLOAD_KEYS = ["id", "name", "size", "extension", "mime_type", "created_by", "created_at"]
VARIABLE_KEYS = ["id", "name", "value_type", "value", "description", "created_at", "updated_at"]


def signed(upload_id: str) -> str:
    return f"https://files.example/{upload_id}?sign=x"


def conversation() -> Conversation:
    return Conversation("c1", "a1", "cfg", "u1", "chat", "Hi", {"name": "x"}, "Hello", "normal", WHEN, WHEN)


def message(status: str = "normal") -> ShownMessage:
    return ShownMessage("m1", "c1", None, "q", {}, "answer", status, None, None, None, WHEN)


def test_conversation_page() -> None:
    body = conversations.conversations(Page([conversation()], True, 20))
    assert list(body) == ["limit", "has_more", "data"]
    assert body["limit"] == 20 and body["has_more"] is True
    assert list(body["data"][0]) == CONVERSATION_KEYS
    assert body["data"][0]["created_at"] == SECONDS


def test_history_message_with_rating_files_and_status() -> None:
    upload = MessageFile(
        "f1", "m1", "image", "local_file", None, "up1", "cat.png", "image/png", 3, "user", 0, WHEN
    )
    link = MessageFile(
        "f2", "m1", "image", "remote_url", "https://x/y.png", None, "y.png", "", 0, "user", 1, WHEN
    )
    item = HistoryMessage(message("stopped"), "like", [upload, link])
    body = messages.history(Page([item], False, 5), signed)
    [shown] = body["data"]
    assert list(shown) == MESSAGE_KEYS
    assert shown["feedback"] == {"rating": "like"} and shown["status"] == "normal"
    assert shown["retriever_resources"] == [] and shown["agent_thoughts"] == []
    assert [f["url"] for f in shown["message_files"]] == [signed("up1"), "https://x/y.png"]
    assert list(shown["message_files"][0]) == MESSAGE_FILE_KEYS
    assert messages.message(HistoryMessage(message("error")), signed)["status"] == "error"
    assert messages.message(HistoryMessage(message()), signed)["feedback"] is None


def test_empty_history_envelope() -> None:
    assert messages.history(Page.empty(20), signed) == {"limit": 20, "has_more": False, "data": []}


def test_upload() -> None:
    body = files.upload(
        UploadFile("up1", "a1", "u1", "r.pdf", 10, "pdf", "application/pdf", "k", "h", WHEN), signed
    )
    assert list(body)[:7] == UPLOAD_KEYS
    assert body["created_by"] == "u1" and body["source_url"] == signed("up1") and body["file_key"] is None


def test_feedbacks_use_iso_timestamps() -> None:
    item = Feedback("f1", "a1", "c1", "m1", "like", None, "user", "u1", None, WHEN, WHEN)
    [shown] = feedbacks.feedbacks([item])["data"]
    assert shown["created_at"] == "2025-01-01T00:00:00.519412"
    assert list(shown)[-2:] == ["created_at", "updated_at"]


def test_variable_value_is_text_and_number_types_merge() -> None:
    item = ConversationVariable("v1", "c1", "n", "integer", {"a": True}, "", WHEN, WHEN)
    body = variables.variables_page(Page([item], False, 20))
    [shown] = body["data"]
    assert list(shown) == VARIABLE_KEYS
    assert shown["value_type"] == "number" and shown["value"] == "{'a': True}"


def test_annotation_page_has_more_means_a_full_page() -> None:
    item = Annotation("n1", "q", "a", 0, WHEN)
    full = annotation_wire.annotation_page(NumberedPage([item], 7, 2, 1))
    assert list(full) == ["data", "has_more", "limit", "total", "page"]
    assert (full["has_more"], full["total"], full["page"]) == (True, 7, 2)
    assert annotation_wire.annotation_page(NumberedPage([item], 1, 1, 20))["has_more"] is False
    job = AnnotationJob("j1", "a1", "enable", "completed", "", 0.9, "p", "m", WHEN, WHEN)
    assert annotation_wire.job_status(job) == {"job_id": "j1", "job_status": "completed", "error_msg": ""}
