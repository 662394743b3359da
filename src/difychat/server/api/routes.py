"""The route table: everything under /v1, plus /health, signed files and apps as MCP servers."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route

from difychat.server.api import annotations as annotation_routes
from difychat.server.api import (
    app_info,
    audio,
    chat,
    conversations,
    files,
    index,
    mcp_server,
    messages,
    suggested,
    tool_files,
    variables,
)


def build_routes() -> list[BaseRoute]:
    v1 = [
        Route("/", index.welcome, methods=["GET"]),
        Route("/chat-messages", chat.create_chat_message, methods=["POST"]),
        Route("/chat-messages/{task_id}/stop", chat.stop_chat_message, methods=["POST"]),
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
    return [
        Route("/health", index.health, methods=["GET"]),
        Route("/files/{file_id}/file-preview", files.signed_file, methods=["GET"]),
        Route("/mcp/server/{server_code}/mcp", mcp_server.mcp_message, methods=["POST"]),
        Route("/files/tools/{name}", tool_files.tool_file, methods=["GET"]),
        Mount("/v1", routes=v1),
    ]
