"""What an app says about itself: ``/parameters``, ``/meta``, ``/info``, ``/site``, ``/end-users/{id}``.

Each feature block renders itself (``domain/features.py``); this module puts them in the contract's
order and adds what the API decides on top.
"""

from __future__ import annotations

from typing import Any, Literal

from typing_extensions import TypedDict

from difychat.server.api.wire.common import iso_z
from difychat.server.domain.apps import WORKSPACE_ID, App, AppConfig
from difychat.server.domain.features import SystemParameters
from difychat.server.domain.records import EndUser as EndUserRecord
from difychat.server.domain.records import ReplySettings

# Dify's default app icon, used when the apps file sets none.
DEFAULT_ICON = "\U0001f916"
DEFAULT_ICON_BACKGROUND = "#FFEAD5"


class Parameters(TypedDict):
    """``GET /parameters``: each feature block as the apps file sets it (``domain/features.py``)."""

    opening_statement: str | None
    suggested_questions: list[str]
    suggested_questions_after_answer: dict[str, Any]
    speech_to_text: dict[str, Any]
    text_to_speech: dict[str, Any]
    retriever_resource: dict[str, Any]
    annotation_reply: dict[str, Any]
    more_like_this: dict[str, Any]
    user_input_form: list[dict[str, Any]]
    sensitive_word_avoidance: dict[str, Any]
    file_upload: dict[str, Any]
    system_parameters: SystemParameters


class Meta(TypedDict):
    tool_icons: dict[str, Any]


class Info(TypedDict):
    name: str
    description: str
    tags: list[str]
    mode: str
    author_name: str | None


class Site(TypedDict):
    title: str
    chat_color_theme: str | None
    chat_color_theme_inverted: bool
    icon_type: Literal["emoji", "image"]
    icon: str | None
    icon_background: str
    description: str | None
    copyright: str | None
    privacy_policy: str | None
    custom_disclaimer: str
    default_language: str
    show_workflow_steps: bool
    use_icon_as_answer_icon: bool
    icon_url: str | None


class EndUser(TypedDict):
    id: str
    tenant_id: str
    app_id: str
    type: Literal["service_api"]
    external_user_id: str
    name: None
    is_anonymous: bool
    session_id: str
    created_at: str
    updated_at: str


def parameters(config: AppConfig, limits: SystemParameters, reply: ReplySettings | None) -> dict[str, Any]:
    """The app's input form and features.

    Annotation reply is switched through the API, so its stored state wins over the apps file.
    """
    return {
        "opening_statement": config.opening_statement,
        "suggested_questions": list(config.suggested_questions),
        "suggested_questions_after_answer": config.suggested_questions_after_answer.wire(),
        "speech_to_text": config.speech_to_text.wire(),
        "text_to_speech": config.text_to_speech.wire(),
        "retriever_resource": config.retriever_resource.wire(),
        "annotation_reply": annotation_reply(config, reply),
        "more_like_this": config.more_like_this.wire(),
        "user_input_form": config.user_input_form,
        "sensitive_word_avoidance": config.sensitive_word_avoidance.wire(),
        "file_upload": config.file_upload.wire(),
        "system_parameters": limits.model_dump(),
    }


def annotation_reply(config: AppConfig, reply: ReplySettings | None) -> dict[str, Any]:
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


def end_user(item: EndUserRecord) -> dict[str, Any]:
    """An end user of the app. Users are never renamed, so ``updated_at`` is ``created_at``."""
    return {
        "id": item.id,
        "tenant_id": WORKSPACE_ID,
        "app_id": item.app_id,
        "type": "service_api",
        "external_user_id": item.session_id,
        "name": None,
        "is_anonymous": item.is_anonymous,
        "session_id": item.session_id,
        "created_at": iso_z(item.created_at),
        "updated_at": iso_z(item.created_at),
    }
