"""Completion apps in the apps file: Dify's default form and prompt, and what they cannot have."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from difychat.server.domain.app_modes import query_form
from difychat.server.domain.apps import AppConfig
from difychat.server.settings import ConfigFileError, load_apps_file


def completion(**fields: Any) -> AppConfig:
    return AppConfig.model_validate({"name": "Writer", "mode": "completion", **fields})


def test_without_a_form_a_completion_app_gets_the_query_paragraph_and_prompt() -> None:
    config = completion()
    assert config.mode == "completion"
    assert config.user_input_form == query_form()
    assert config.pre_prompt == "{{query}}"
    assert [(v.type, v.field.variable, v.field.required) for v in config.form_variables()] == [
        ("paragraph", "query", True)
    ]


def test_what_the_apps_file_gives_is_kept() -> None:
    form = [{"text-input": {"variable": "topic", "label": "Topic"}}]
    assert completion(user_input_form=form).pre_prompt == ""  # no `query` to default to
    assert completion(user_input_form=form, pre_prompt="On {{topic}}").pre_prompt == "On {{topic}}"
    assert completion(pre_prompt="Summarise: {{query}}").user_input_form == query_form()
    assert completion(user_input_form=[]).user_input_form == []


def test_a_stored_snapshot_reads_back_as_saved() -> None:
    config = completion(more_like_this={"enabled": True})
    again = AppConfig.from_snapshot(config.snapshot(), "Writer")
    assert again.fingerprint() == config.fingerprint()
    assert again.more_like_this.enabled and again.user_input_form == query_form()


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"opening_statement": "Hi!"}, "opening_statement"),
        ({"suggested_questions": ["What?"]}, "suggested_questions"),
        ({"suggested_questions_after_answer": {"enabled": True}}, "suggested_questions_after_answer"),
        ({"conversation_variables": [{"name": "x", "value_type": "string"}]}, "conversation_variables"),
        ({"agent_mode": {"enabled": True, "strategy": "function_call"}}, "agent_mode"),
        ({"dataset_configs": {"datasets": {"datasets": [{"dataset": {"id": "docs"}}]}}}, "dataset_configs"),
    ],
)
def test_conversation_features_are_refused(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError) as raised:
        completion(**fields)
    assert f"a completion app cannot have {named}" in str(raised.value)


def test_empty_conversation_features_as_dify_exports_them_are_accepted() -> None:
    config = completion(
        opening_statement="",
        suggested_questions=[],
        suggested_questions_after_answer={"enabled": False},
        agent_mode={"enabled": False, "tools": []},
    )
    assert config.mode == "completion"


def test_the_apps_file_names_the_app_and_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "apps.yaml"
    path.write_text("apps:\n  - name: Writer\n    mode: completion\n    opening_statement: Hello\n")
    with pytest.raises(ConfigFileError) as raised:
        load_apps_file(path)
    message = str(raised.value)
    assert 'app "Writer"' in message and "a completion app has no conversation" in message
