"""Dify exports imported, loaded by the real loader, exported and imported again give the same app;
each report lists exactly what could not be mapped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from difychat.server import dsl
from tests.unit.server.dsl_helpers import (
    MAPPABLE,
    environment,
    import_fixture,
    import_text,
    load_entry,
    refusal,
    unmapped,
)

LIBRARY_DATASET = "8a1f0c3e-52d4-4b7a-9c61-2f0e7d9b4a15"


def _round_trip(imported: dsl.Imported, tmp_path: Path, **options: Any) -> None:
    environ = environment(imported)
    first = load_entry(imported.entry, tmp_path, environ)
    exported = dsl.export_app(first)
    again = import_text(dsl.dump_dsl(exported.document), **options)
    assert again.entry == imported.entry
    assert again.report.unmapped == [] and again.report.datasets == []
    second = load_entry(again.entry, tmp_path, environ)
    assert second.snapshot() == first.snapshot()


@pytest.mark.parametrize("name", MAPPABLE)
def test_import_load_export_import_gives_the_same_entry(name: str, tmp_path: Path) -> None:
    _round_trip(import_fixture(name), tmp_path)


def test_a_bound_dataset_survives_the_round_trip(tmp_path: Path) -> None:
    imported = import_fixture("old_chat_no_version", datasets={LIBRARY_DATASET: "handbook"})
    assert imported.entry["dataset_configs"] == {"datasets": {"datasets": [{"dataset": {"id": "handbook"}}]}}
    assert imported.report.datasets == []
    _round_trip(imported, tmp_path)


EXPECTED_UNMAPPED: dict[str, set[str]] = {
    "chat_with_form": set(),
    "agent_time_webscraper": set(),
    "completion_app": set(),
    "old_chat_no_version": set(),
    "unknown_provider_and_tool": {
        "model_config.model.provider",
        "model_config.user_input_form[1]",
        "model_config.annotation_reply",
        "model_config.agent_mode.tools[1]",
        "model_config.agent_mode.tools[2]",
    },
}
EXPECTED_DATASETS = {
    "old_chat_no_version": [LIBRARY_DATASET],
    "unknown_provider_and_tool": ["6e0f2a1b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"],
}
EXPECTED_ENV = {
    "chat_with_form": ["OPENAI_API_KEY"],
    "agent_time_webscraper": ["OPENAI_API_KEY"],
    "completion_app": ["ANTHROPIC_API_KEY"],
    "old_chat_no_version": ["OPENAI_API_KEY"],
    "unknown_provider_and_tool": ["TONGYI_BASE_URL", "TONGYI_API_KEY"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED_UNMAPPED))
def test_the_report_lists_exactly_what_could_not_be_mapped(name: str, tmp_path: Path) -> None:
    imported = import_fixture(name)
    assert unmapped(imported) == EXPECTED_UNMAPPED[name]
    assert imported.report.datasets == EXPECTED_DATASETS.get(name, [])
    assert imported.report.env == EXPECTED_ENV[name]
    load_entry(imported.entry, tmp_path, environment(imported))


def test_the_unknown_provider_and_tools_are_named_with_what_to_do() -> None:
    report = import_fixture("unknown_provider_and_tool").report
    text = report.render("as apps.yaml")
    assert (
        "unknown provider langgenius/tongyi/tongyi: written as openai-compatible at ${TONGYI_BASE_URL}"
        in text
    )
    assert "google_search of langgenius/google/google: difychat has no such tool provider" in text
    assert "getForecast of Weather API: a custom (OpenAPI) tool" in text
    assert "annotation replies are not imported" in text
    assert "an external data tool field" in text
    assert "--dataset 6e0f2a1b-3c4d-4e5f-8a9b-0c1d2e3f4a5b=NAME" in text
    assert "set TONGYI_API_KEY" in text
    assert 'difychat keys create --app "City Trip Planner"' in text
    assert "langgenius/tongyi:0.0.31" in text and "@" not in text.split("Plugins")[1]


def test_the_mappable_parts_of_the_unknown_file_come_over() -> None:
    entry = import_fixture("unknown_provider_and_tool").entry
    assert entry["mode"] == "agent-chat"
    assert entry["model"] == {
        "provider": "openai-compatible",
        "name": "qwen-max",
        "base_url": "${TONGYI_BASE_URL}",
        "api_key": "${TONGYI_API_KEY}",
        "completion_params": {"temperature": 0.5},
    }
    assert entry["agent_mode"] == {
        "enabled": True,
        "strategy": "react",
        "max_iteration": 8,
        "tools": [
            {
                "enabled": True,
                "provider_type": "builtin",
                "provider_id": "time",
                "tool_name": "current_time",
                "tool_parameters": {"format": "%A %d %B, %H:%M", "timezone": "Europe/London"},
            }
        ],
    }
    assert [list(field) for field in entry["user_input_form"]] == [["text-input"]]
    assert "dataset_configs" not in entry and "annotation_reply" not in entry


def test_the_workflow_app_is_refused_with_its_node_types() -> None:
    from tests.unit.server.dsl_helpers import fixture_text

    assert refusal(fixture_text("workflow_app")) == [
        "this file is an advanced-chat (chatflow) app with nodes: start ×1, question-classifier ×1, "
        "knowledge-retrieval ×1, llm ×2, answer ×1; "
        "difychat imports chat, agent-chat and completion apps only"
    ]
