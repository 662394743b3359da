"""App modes and what a completion app is.

A chat or agent app holds conversations; a completion app (Dify's "text generator") turns one
filled-in form into one answer. It has no memory of earlier answers, no opening statement, no
suggested questions and no agent, so the apps file may not give it any. Without a form, it gets
the one Dify gives a new completion app: a required ``query`` paragraph, used by the prompt
``{{query}}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from difychat.server.domain.apps import AppConfig

COMPLETION = "completion"
CHAT_MODES = frozenset({"chat", "agent-chat"})

QUERY_VARIABLE = "query"


def query_form() -> list[dict[str, dict[str, Any]]]:
    """The form of a completion app that declares none: one required paragraph, ``query``."""
    return [{"paragraph": {"label": "Query", "variable": QUERY_VARIABLE, "required": True, "default": ""}}]


def settle_completion_app(config: AppConfig) -> None:
    """Refuse what a completion app cannot have; fill in Dify's default form and prompt.

    Defaults apply only to keys the apps file leaves out, so a stored snapshot (which has every
    key) reads back as it was saved.
    """
    no_conversation = "a completion app has no conversation"
    datasets = config.dataset_configs.datasets.datasets if config.dataset_configs is not None else []
    problems = [
        f"{key} ({why})"
        for key, present, why in (
            ("opening_statement", bool(config.opening_statement), no_conversation),
            ("suggested_questions", bool(config.suggested_questions), no_conversation),
            (
                "suggested_questions_after_answer",
                config.suggested_questions_after_answer.enabled,
                no_conversation,
            ),
            ("conversation_variables", bool(config.conversation_variables), no_conversation),
            ("agent_mode", config.agent_mode.enabled, "a completion app is not an agent"),
            ("dataset_configs", bool(datasets), "completion apps do not search datasets yet"),
        )
        if present
    ]
    if problems:
        raise ValueError("a completion app cannot have " + "; ".join(problems))
    fields_set = config.model_fields_set
    if "user_input_form" not in fields_set:
        config.user_input_form = query_form()
    if "pre_prompt" not in fields_set and any(
        item.field.variable == QUERY_VARIABLE for item in config.form_variables()
    ):
        config.pre_prompt = "{{" + QUERY_VARIABLE + "}}"
