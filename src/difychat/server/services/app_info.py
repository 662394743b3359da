"""What an app says about itself: /parameters, /meta, /info, /site, and its end users."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.domain.apps import App, AppConfig
from difychat.server.domain.features import SystemParameters
from difychat.server.errors import EndUserNotFound
from difychat.server.services.annotations import ReplySettings
from difychat.server.store import apps as app_store
from difychat.server.store.common import Record

# Dify's default app icon, used when the apps file sets none.
DEFAULT_ICON = "\U0001f916"
DEFAULT_ICON_BACKGROUND = "#FFEAD5"


def parameters(
    config: AppConfig, limits: SystemParameters, reply: ReplySettings | None = None
) -> dict[str, Any]:
    """The app's input form and features, keys in the contract's order.

    Annotation reply is switched through the API, so its stored state wins over the apps file.
    """
    return {
        "opening_statement": config.opening_statement,
        "suggested_questions": list(config.suggested_questions),
        "suggested_questions_after_answer": config.suggested_questions_after_answer.wire(),
        "speech_to_text": config.speech_to_text.wire(),
        "text_to_speech": config.text_to_speech.wire(),
        "retriever_resource": config.retriever_resource.wire(),
        "annotation_reply": _annotation_reply(config, reply),
        "more_like_this": config.more_like_this.wire(),
        "user_input_form": config.user_input_form,
        "sensitive_word_avoidance": config.sensitive_word_avoidance.wire(),
        "file_upload": config.file_upload.wire(),
        "system_parameters": limits.model_dump(),
    }


def _annotation_reply(config: AppConfig, reply: ReplySettings | None) -> dict[str, Any]:
    if reply is None:
        return config.annotation_reply.wire()
    if not reply.enabled:
        return {"enabled": False}
    return {
        "id": reply.id,
        "enabled": True,
        "score_threshold": reply.score_threshold,
        "embedding_model": {
            "embedding_provider_name": reply.embedding_provider_name,
            "embedding_model_name": reply.embedding_model_name,
        },
    }


def meta(config: AppConfig) -> dict[str, Any]:
    """Tool icons of an agent app's tools, from ``agent_mode.tools`` entries that name one."""
    icons: dict[str, Any] = {}
    for tool in config.agent_mode.tools:
        if isinstance(tool.get("tool_name"), str) and "icon" in tool:
            icons[tool["tool_name"]] = tool["icon"]
    return {"tool_icons": icons}


def info(app: App) -> dict[str, Any]:
    config = app.config
    return {
        "name": app.name,
        "description": config.description,
        "tags": list(config.tags),
        "mode": app.mode,
        "author_name": config.author_name,
    }


def site(app: App) -> dict[str, Any]:
    """The web-app settings; ``icon_url`` comes last and is set only for image icons."""
    s = app.config.site
    return {
        "title": s.title or app.name,
        "chat_color_theme": s.chat_color_theme,
        "chat_color_theme_inverted": s.chat_color_theme_inverted,
        "icon_type": s.icon_type,
        "icon": s.icon if s.icon is not None else (DEFAULT_ICON if s.icon_type == "emoji" else None),
        "icon_background": s.icon_background if s.icon_background is not None else DEFAULT_ICON_BACKGROUND,
        "description": s.description if s.description is not None else (app.config.description or None),
        "copyright": s.copyright,
        "privacy_policy": s.privacy_policy,
        "custom_disclaimer": s.custom_disclaimer,
        "default_language": s.default_language,
        "show_workflow_steps": s.show_workflow_steps,
        "use_icon_as_answer_icon": s.use_icon_as_answer_icon,
        "icon_url": (s.icon_url or s.icon) if s.icon_type == "image" else None,
    }


class AppInfoService:
    def __init__(self, engine: AsyncEngine, limits: SystemParameters) -> None:
        self._engine = engine
        self.limits = limits

    def parameters(self, app: App, reply: ReplySettings | None) -> dict[str, Any]:
        return parameters(app.config, self.limits, reply)

    async def end_user(self, app: App, end_user_id: str) -> Record:
        """An end user of this app; any other id (another app's included) is not found."""
        async with self._engine.connect() as conn:
            row = await app_store.end_user_in_app(conn, app.id, end_user_id)
        if row is None:
            raise EndUserNotFound()
        return row
