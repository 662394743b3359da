"""One builder per endpoint of the Chat App API: method, path, parameters and response reader.

``user`` arrives here already resolved (the call's value or the client's default). Where Dify
makes it optional it is left out when ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

import httpx

from difychat._calls import (
    Call,
    FileInput,
    audio_bytes,
    chat_files,
    drop_none,
    file_part,
    model,
    nothing,
    path,
    string_list,
    text_field,
)
from difychat.types.annotations import Annotation, AnnotationPage, AnnotationReplyJob
from difychat.types.app import AppFeedbackPage, AppInfo, AppMeta, AppParameters, AppSite
from difychat.types.chat import ChatMessage
from difychat.types.conversations import (
    Conversation,
    ConversationPage,
    ConversationVariable,
    ConversationVariablePage,
    MessagePage,
)
from difychat.types.files import FileContent, UploadedFile


def _raw(response: httpx.Response) -> httpx.Response:
    return response


def chat_message(
    query: str,
    *,
    user: str,
    inputs: dict[str, Any] | None,
    conversation_id: str | None,
    files: Sequence[Any] | None,
    auto_generate_name: bool | None,
    streaming: bool,
    extra_body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /chat-messages``."""
    body: dict[str, Any] = {
        "inputs": dict(inputs or {}),
        "query": query,
        "response_mode": "streaming" if streaming else "blocking",
        "user": user,
    }
    if conversation_id:
        body["conversation_id"] = conversation_id
    wire_files = chat_files(files)
    if wire_files is not None:
        body["files"] = wire_files
    if auto_generate_name is not None:
        body["auto_generate_name"] = auto_generate_name
    if extra_body:
        body.update(extra_body)
    return body


def send_message(body: dict[str, Any]) -> Call[ChatMessage]:
    # Never idempotent: a resent message is a second, billed answer.
    return Call("POST", "/chat-messages", model(ChatMessage), json=body)


def stream_message(body: dict[str, Any]) -> Call[httpx.Response]:
    return Call("POST", "/chat-messages", _raw, json=body, stream=True, accept="text/event-stream")


def stop(task_id: str, *, user: str) -> Call[None]:
    # Stopping twice is harmless (Dify always answers success), so it may be retried.
    return Call(
        "POST", path("/chat-messages/{}/stop", task_id), nothing, json={"user": user}, idempotent=True
    )


def message_feedback(message_id: str, rating: str | None, *, user: str, content: str | None) -> Call[None]:
    body = {"rating": rating, "user": user, "content": content}
    # Setting a rating is repeatable; revoking one (rating None) fails the second time.
    return Call(
        "POST",
        path("/messages/{}/feedbacks", message_id),
        nothing,
        json=body,
        idempotent=rating is not None,
    )


def app_feedbacks(*, page: int | None, limit: int | None) -> Call[AppFeedbackPage]:
    params = drop_none({"page": page, "limit": limit})
    return Call("GET", "/app/feedbacks", model(AppFeedbackPage), params=params, idempotent=True)


def conversations(
    *, user: str | None, last_id: str | None, limit: int | None, sort_by: str | None
) -> Call[ConversationPage]:
    params = drop_none({"user": user, "last_id": last_id, "limit": limit, "sort_by": sort_by})
    return Call("GET", "/conversations", model(ConversationPage), params=params, idempotent=True)


def messages(
    conversation_id: str, *, user: str | None, first_id: str | None, limit: int | None
) -> Call[MessagePage]:
    params = drop_none(
        {"conversation_id": conversation_id, "user": user, "first_id": first_id, "limit": limit}
    )
    return Call("GET", "/messages", model(MessagePage), params=params, idempotent=True)


def suggested_questions(message_id: str, *, user: str) -> Call[list[str]]:
    return Call(
        "GET", path("/messages/{}/suggested", message_id), string_list, params={"user": user}, idempotent=True
    )


def delete_conversation(conversation_id: str, *, user: str | None) -> Call[None]:
    # Dify reads the user from a JSON body even on DELETE, and wants the JSON content type.
    return Call("DELETE", path("/conversations/{}", conversation_id), nothing, json=drop_none({"user": user}))


def rename_conversation(
    conversation_id: str, *, name: str | None, auto_generate: bool, user: str | None
) -> Call[Conversation]:
    body = drop_none({"name": name, "auto_generate": auto_generate, "user": user})
    return Call(
        "POST",
        path("/conversations/{}/name", conversation_id),
        model(Conversation),
        json=body,
        idempotent=not auto_generate,
    )


def conversation_variables(
    conversation_id: str,
    *,
    user: str | None,
    last_id: str | None,
    limit: int | None,
    variable_name: str | None,
) -> Call[ConversationVariablePage]:
    params = drop_none({"user": user, "last_id": last_id, "limit": limit, "variable_name": variable_name})
    return Call(
        "GET",
        path("/conversations/{}/variables", conversation_id),
        model(ConversationVariablePage),
        params=params,
        idempotent=True,
    )


def update_conversation_variable(
    conversation_id: str, variable_id: str, value: Any, *, user: str | None
) -> Call[ConversationVariable]:
    return Call(
        "PUT",
        path("/conversations/{}/variables/{}", conversation_id, variable_id),
        model(ConversationVariable),
        json={"value": value, **drop_none({"user": user})},
        idempotent=True,
    )


def parameters() -> Call[AppParameters]:
    return Call("GET", "/parameters", model(AppParameters), idempotent=True)


def info() -> Call[AppInfo]:
    return Call("GET", "/info", model(AppInfo), idempotent=True)


def meta() -> Call[AppMeta]:
    return Call("GET", "/meta", model(AppMeta), idempotent=True)


def site() -> Call[AppSite]:
    return Call("GET", "/site", model(AppSite), idempotent=True)


def text_to_audio_body(
    *, text: str | None, message_id: str | None, voice: str | None, user: str | None
) -> dict[str, Any]:
    if text is None and message_id is None:
        raise ValueError("text_to_audio needs text= or message_id=")
    return drop_none({"message_id": message_id, "text": text, "voice": voice, "user": user})


def text_to_audio(body: dict[str, Any]) -> Call[bytes]:
    # Synthesis has no side effect on the server, so a failed attempt may be repeated.
    return Call("POST", "/text-to-audio", audio_bytes, json=body, idempotent=True, accept="audio/*")


def text_to_audio_stream(body: dict[str, Any]) -> Call[httpx.Response]:
    return Call("POST", "/text-to-audio", _raw, json=body, idempotent=True, stream=True, accept="audio/*")


def audio_to_text(
    file: FileInput, *, filename: str | None, mime_type: str | None, user: str | None
) -> Call[str]:
    call = Call("POST", "/audio-to-text", text_field, data=drop_none({"user": user}))
    call.files = {"file": file_part(call, file, filename=filename, mime_type=mime_type, audio=True)}
    return call


def upload_file(
    file: FileInput, *, filename: str | None, mime_type: str | None, user: str | None
) -> Call[UploadedFile]:
    call = Call("POST", "/files/upload", model(UploadedFile), data=drop_none({"user": user}))
    call.files = {"file": file_part(call, file, filename=filename, mime_type=mime_type)}
    return call


def _file_content(response: httpx.Response) -> FileContent:
    disposition = response.headers.get("content-disposition")
    return FileContent(
        content=response.content,
        content_type=response.headers.get("content-type"),
        filename=_filename_from_disposition(disposition) if disposition else None,
    )


def _filename_from_disposition(value: str) -> str | None:
    plain: str | None = None
    for part in value.split(";"):
        key, _, raw = part.strip().partition("=")
        key = key.strip().lower()
        raw = raw.strip()
        if key == "filename*" and "''" in raw:
            return unquote(raw.split("''", 1)[1])
        if key == "filename":
            plain = raw.strip('"')
    return plain


def file_preview(file_id: str, *, as_attachment: bool, user: str | None) -> Call[FileContent]:
    params = drop_none({"as_attachment": True if as_attachment else None, "user": user})
    return Call(
        "GET", path("/files/{}/preview", file_id), _file_content, params=params, idempotent=True, accept="*/*"
    )


def list_annotations(*, page: int | None, limit: int | None, keyword: str | None) -> Call[AnnotationPage]:
    params = drop_none({"page": page, "limit": limit, "keyword": keyword})
    return Call("GET", "/apps/annotations", model(AnnotationPage), params=params, idempotent=True)


def create_annotation(question: str, answer: str) -> Call[Annotation]:
    return Call("POST", "/apps/annotations", model(Annotation), json={"question": question, "answer": answer})


def update_annotation(annotation_id: str, question: str, answer: str) -> Call[Annotation]:
    return Call(
        "PUT",
        path("/apps/annotations/{}", annotation_id),
        model(Annotation),
        json={"question": question, "answer": answer},
        idempotent=True,
    )


def delete_annotation(annotation_id: str) -> Call[None]:
    return Call("DELETE", path("/apps/annotations/{}", annotation_id), nothing)


def annotation_reply(
    action: str, *, score_threshold: float, embedding_provider_name: str, embedding_model_name: str
) -> Call[AnnotationReplyJob]:
    body = {
        "score_threshold": score_threshold,
        "embedding_provider_name": embedding_provider_name,
        "embedding_model_name": embedding_model_name,
    }
    return Call("POST", path("/apps/annotation-reply/{}", action), model(AnnotationReplyJob), json=body)


def annotation_reply_status(action: str, job_id: str) -> Call[AnnotationReplyJob]:
    return Call(
        "GET",
        path("/apps/annotation-reply/{}/status/{}", action, job_id),
        model(AnnotationReplyJob),
        idempotent=True,
    )
