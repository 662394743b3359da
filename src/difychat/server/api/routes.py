"""The route table: everything under /v1, plus /health, signed files, apps as MCP servers and the
web chat pages with their /api."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route

from difychat.server.api import annotations as annotation_routes
from difychat.server.api import (
    app_info,
    audio,
    chat,
    completion,
    conversations,
    files,
    index,
    mcp_server,
    messages,
    openapi,
    suggested,
    tool_files,
    variables,
)
from difychat.server.api.knowledge import datasets as knowledge_datasets
from difychat.server.api.knowledge import documents as knowledge_documents
from difychat.server.api.knowledge import metadata as knowledge_metadata
from difychat.server.api.knowledge import retrieval as knowledge_retrieval
from difychat.server.api.knowledge import segments as knowledge_segments
from difychat.server.api.knowledge import tags as knowledge_tags
from difychat.server.api.web.routes import web_routes


def build_routes() -> list[BaseRoute]:
    """Every route. A request is matched against each route in turn, so the busiest come first
    (``/v1``, and chat turns within it): they match no path that another route matches. Where two
    routes do (``/datasets/tags`` and ``/datasets/{dataset_id}``), the literal one comes first."""
    v1 = [
        Route("/chat-messages", chat.create_chat_message, methods=["POST"]),
        Route("/chat-messages/{task_id}/stop", chat.stop_chat_message, methods=["POST"]),
        Route("/", index.welcome, methods=["GET"]),
        Route("/openapi.json", openapi.openapi_json, methods=["GET"]),
        Route("/completion-messages", completion.create_completion_message, methods=["POST"]),
        Route("/completion-messages/{task_id}/stop", completion.stop_completion_message, methods=["POST"]),
        Route("/messages", messages.list_messages, methods=["GET"]),
        Route("/messages/{message_id}/feedbacks", messages.create_feedback, methods=["POST"]),
        Route("/messages/{message_id}/suggested", suggested.suggested_questions, methods=["GET"]),
        Route("/app/feedbacks", messages.list_app_feedbacks, methods=["GET"]),
        Route("/files/upload", files.upload_file, methods=["POST"]),
        Route("/files/{file_id}/preview", files.preview_file, methods=["GET"]),
        Route("/conversations", conversations.list_conversations, methods=["GET"]),
        Route("/audio-to-text", audio.audio_to_text, methods=["POST"]),
        Route("/text-to-audio", audio.text_to_audio, methods=["POST"]),
        Route("/apps/annotations", annotation_routes.list_annotations, methods=["GET"]),
        Route("/apps/annotations", annotation_routes.create_annotation, methods=["POST"]),
        Route("/apps/annotations/{annotation_id}", annotation_routes.update_annotation, methods=["PUT"]),
        Route("/apps/annotations/{annotation_id}", annotation_routes.delete_annotation, methods=["DELETE"]),
        Route("/apps/annotation-reply/{action}", annotation_routes.annotation_reply, methods=["POST"]),
        Route(
            "/apps/annotation-reply/{action}/status/{job_id}",
            annotation_routes.annotation_reply_status,
            methods=["GET"],
        ),
        Route("/conversations/{conversation_id}", conversations.delete_conversation, methods=["DELETE"]),
        Route("/conversations/{conversation_id}/name", conversations.rename_conversation, methods=["POST"]),
        Route("/conversations/{conversation_id}/variables", variables.list_variables, methods=["GET"]),
        Route(
            "/conversations/{conversation_id}/variables/{variable_id}",
            variables.update_variable,
            methods=["PUT"],
        ),
        Route("/parameters", app_info.get_parameters, methods=["GET"]),
        Route("/meta", app_info.get_meta, methods=["GET"]),
        Route("/info", app_info.get_info, methods=["GET"]),
        Route("/site", app_info.get_site, methods=["GET"]),
        Route("/end-users/{end_user_id}", app_info.get_end_user, methods=["GET"]),
    ]
    v1.extend(knowledge_routes())
    return [
        Mount("/v1", routes=v1),
        Route("/health", index.health, methods=["GET"]),
        Route("/files/{file_id}/file-preview", files.signed_file, methods=["GET"]),
        Route("/mcp/server/{server_code}/mcp", mcp_server.mcp_message, methods=["POST"]),
        Route("/files/tools/{name}", tool_files.tool_file, methods=["GET"]),
        *web_routes(),
    ]


def knowledge_routes() -> list[Route]:
    """The Knowledge API (``dataset-`` keys); ``-`` and ``_`` spellings of the document routes."""
    ds = "/datasets/{dataset_id}"
    doc = ds + "/documents/{document_id}"
    meta = ds + "/metadata"
    routes: list[Route] = [
        # Before ``/datasets/{dataset_id}``, which would take "tags" for an id.
        Route("/datasets/tags", knowledge_tags.list_tags, methods=["GET"]),
        Route("/datasets/tags", knowledge_tags.create_tag, methods=["POST"]),
        Route("/datasets/tags", knowledge_tags.update_tag, methods=["PATCH"]),
        Route("/datasets/tags", knowledge_tags.delete_tag, methods=["DELETE"]),
        Route("/datasets/tags/binding", knowledge_tags.bind_tags, methods=["POST"]),
        Route("/datasets/tags/unbinding", knowledge_tags.unbind_tags, methods=["POST"]),
        Route(ds + "/tags", knowledge_tags.dataset_tags, methods=["GET"]),
        Route(meta, knowledge_metadata.create_field, methods=["POST"]),
        Route(meta, knowledge_metadata.list_fields, methods=["GET"]),
        Route(meta + "/built-in", knowledge_metadata.built_in_fields, methods=["GET"]),
        Route(meta + "/built-in/{action}", knowledge_metadata.switch_built_in, methods=["POST"]),
        Route(meta + "/{metadata_id}", knowledge_metadata.rename_field, methods=["PATCH"]),
        Route(meta + "/{metadata_id}", knowledge_metadata.delete_field, methods=["DELETE"]),
        Route(ds + "/documents/metadata", knowledge_metadata.update_documents, methods=["POST"]),
        Route("/datasets", knowledge_datasets.create_dataset, methods=["POST"]),
        Route("/datasets", knowledge_datasets.list_datasets, methods=["GET"]),
        Route(ds, knowledge_datasets.get_dataset, methods=["GET"]),
        Route(ds, knowledge_datasets.update_dataset, methods=["PATCH"]),
        Route(ds, knowledge_datasets.delete_dataset, methods=["DELETE"]),
        Route(ds + "/documents", knowledge_documents.list_documents, methods=["GET"]),
        Route(ds + "/documents/status/{action}", knowledge_documents.document_status, methods=["PATCH"]),
        Route(
            ds + "/documents/{batch}/indexing-status", knowledge_documents.indexing_status, methods=["GET"]
        ),
        Route(doc, knowledge_documents.get_document, methods=["GET"]),
        Route(doc, knowledge_documents.delete_document, methods=["DELETE"]),
        Route(doc + "/segments", knowledge_segments.list_segments, methods=["GET"]),
        Route(doc + "/segments", knowledge_segments.create_segments, methods=["POST"]),
        Route(doc + "/segments/{segment_id}", knowledge_segments.get_segment, methods=["GET"]),
        Route(doc + "/segments/{segment_id}", knowledge_segments.update_segment, methods=["POST"]),
        Route(doc + "/segments/{segment_id}", knowledge_segments.delete_segment, methods=["DELETE"]),
        Route(ds + "/retrieve", knowledge_retrieval.retrieve, methods=["POST"]),
        Route(ds + "/hit-testing", knowledge_retrieval.retrieve, methods=["POST"]),
    ]
    for dash, under in (("create-by-text", "create_by_text"), ("create-by-file", "create_by_file")):
        handler = getattr(knowledge_documents, under)
        routes += [Route(f"{ds}/document/{name}", handler, methods=["POST"]) for name in (dash, under)]
    for dash, under in (("update-by-text", "update_by_text"), ("update-by-file", "update_by_file")):
        handler = getattr(knowledge_documents, under)
        routes += [Route(f"{doc}/{name}", handler, methods=["POST"]) for name in (dash, under)]
    return routes
