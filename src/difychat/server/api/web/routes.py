"""The web app's routes: the pages, their assets, ``/embed.js``, and the web API under ``/api``."""

from __future__ import annotations

from starlette.routing import BaseRoute, Mount, Route

from difychat.server.api.web import app_info, chat, conversations, media, messages, pages, passport


def web_api_routes() -> list[BaseRoute]:
    """Webapp contract B4, for chat apps."""
    conversation = "/conversations/{conversation_id}"
    return [
        Route("/passport", passport.passport, methods=["GET"]),
        Route("/system-features", passport.system_features, methods=["GET"]),
        Route("/webapp/access-mode", passport.access_mode, methods=["GET"]),
        Route("/login/status", passport.login_status, methods=["GET"]),
        Route("/site", app_info.get_site, methods=["GET"]),
        Route("/parameters", app_info.get_parameters, methods=["GET"]),
        Route("/meta", app_info.get_meta, methods=["GET"]),
        Route("/chat-messages", chat.create_chat_message, methods=["POST"]),
        Route("/chat-messages/{task_id}/stop", chat.stop_chat_message, methods=["POST"]),
        Route("/conversations", conversations.list_conversations, methods=["GET"]),
        Route(conversation, conversations.delete_conversation, methods=["DELETE"]),
        Route(conversation + "/name", conversations.rename_conversation, methods=["POST"]),
        Route(conversation + "/pin", conversations.pin_conversation, methods=["PATCH"]),
        Route(conversation + "/unpin", conversations.unpin_conversation, methods=["PATCH"]),
        Route("/messages", messages.list_messages, methods=["GET"]),
        Route("/messages/{message_id}/feedbacks", messages.create_feedback, methods=["POST"]),
        Route("/messages/{message_id}/suggested-questions", messages.suggested_questions, methods=["GET"]),
        Route("/files/upload", media.upload_file, methods=["POST"]),
        Route("/audio-to-text", media.audio_to_text, methods=["POST"]),
        Route("/text-to-audio", media.text_to_audio, methods=["POST"]),
    ]


def web_routes() -> list[BaseRoute]:
    return [
        Route("/chat/{code}", pages.chat_page, methods=["GET"]),
        Route("/chatbot/{code}", pages.chatbot_page, methods=["GET"]),
        Route("/embed.js", pages.embed_script, methods=["GET"]),
        Route("/embed.min.js", pages.embed_script, methods=["GET"]),
        Mount("/web-static", app=pages.Assets()),
        Mount("/api", routes=web_api_routes()),
    ]
