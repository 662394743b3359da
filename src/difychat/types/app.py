"""Models describing the app: parameters, info, meta, site, and its users' feedback."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from difychat.types._base import DifyModel, Timestamp

__all__ = [
    "AppFeedback",
    "AppFeedbackPage",
    "AppInfo",
    "AppMeta",
    "AppParameters",
    "AppSite",
    "Feature",
]


class Feature(DifyModel):
    """A feature switch such as ``speech_to_text``; extra keys (``voice``...) are kept."""

    enabled: bool = False


class AppParameters(DifyModel):
    """``GET /parameters``: the app's opening statement, input form and feature switches.

    ``user_input_form`` items are single-key objects such as
    ``{"text-input": {"variable": "name", "label": "Name", "required": True}}``.
    """

    opening_statement: str | None = None
    suggested_questions: list[str] = Field(default_factory=list)
    suggested_questions_after_answer: Feature = Field(default_factory=Feature)
    speech_to_text: Feature = Field(default_factory=Feature)
    text_to_speech: Feature = Field(default_factory=Feature)
    retriever_resource: Feature = Field(default_factory=Feature)
    annotation_reply: Feature = Field(default_factory=Feature)
    more_like_this: Feature = Field(default_factory=Feature)
    user_input_form: list[dict[str, Any]] = Field(default_factory=list)
    sensitive_word_avoidance: Feature = Field(default_factory=Feature)
    file_upload: dict[str, Any] | None = None
    system_parameters: dict[str, Any] | None = None


class AppInfo(DifyModel):
    """``GET /info``."""

    name: str | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    mode: str | None = None
    author_name: str | None = None


class AppMeta(DifyModel):
    """``GET /meta``: tool icons, a URL string or an ``{"background", "content"}`` object each."""

    tool_icons: dict[str, Any] = Field(default_factory=dict)


class AppSite(DifyModel):
    """``GET /site``: the web app's presentation settings."""

    title: str | None = None
    chat_color_theme: str | None = None
    chat_color_theme_inverted: bool | None = None
    icon_type: str | None = None
    icon: str | None = None
    icon_background: str | None = None
    description: str | None = None
    copyright: str | None = None
    privacy_policy: str | None = None
    custom_disclaimer: str | None = None
    default_language: str | None = None
    show_workflow_steps: bool | None = None
    use_icon_as_answer_icon: bool | None = None
    icon_url: str | None = None


class AppFeedback(DifyModel):
    """One feedback row of ``/app/feedbacks`` (user or console feedback)."""

    id: str
    app_id: str | None = None
    conversation_id: str | None = None
    message_id: str | None = None
    rating: str | None = None
    content: str | None = None
    from_source: str | None = None
    from_end_user_id: str | None = None
    from_account_id: str | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None


class AppFeedbackPage(DifyModel):
    """A page of ``/app/feedbacks`` (offset paging: ask for the next ``page``)."""

    data: list[AppFeedback] = Field(default_factory=list)
