"""What the importer makes of each part of a Dify export, and what it refuses (contract A2-A7)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from difychat.server import dsl
from tests.unit.server.dsl_helpers import (
    environment,
    fixture_data,
    import_data,
    import_fixture,
    load_entry,
    refusal,
    unmapped,
)


def _chat(**model_config: Any) -> dict[str, Any]:
    """A small chat export, with ``model_config`` keys replaced or added."""
    data = copy.deepcopy(fixture_data("agent_time_webscraper"))
    data["app"]["mode"] = "chat"
    data["model_config"]["agent_mode"] = {"enabled": False, "tools": []}
    data["model_config"].update(model_config)
    return data


# --- the fixtures ---------------------------------------------------------------------------------


def test_a_chat_app_keeps_its_form_features_and_look(tmp_path: Path) -> None:
    imported = import_fixture("chat_with_form")
    entry = imported.entry
    assert entry["model"] == {
        "provider": "openai",
        "name": "gpt-4o-mini",
        "base_url": "${OPENAI_BASE_URL:-https://api.openai.com/v1}",
        "api_key": "${OPENAI_API_KEY}",
        "completion_params": {"max_tokens": 1024, "stop": [], "temperature": 0.3},
    }
    assert [next(iter(f)) for f in entry["user_input_form"]] == [
        "text-input",
        "select",
        "number",
        "paragraph",
        "checkbox",
    ]
    assert entry["user_input_form"][1]["select"]["options"] == ["easy", "moderate", "hard"]
    assert entry["text_to_speech"] == {
        "enabled": True,
        "voice": "alloy",
        "language": "en-US",
        "autoPlay": "disabled",
    }
    assert entry["sensitive_word_avoidance"]["config"]["keywords"] == "off-trail\ntrespass"
    assert entry["file_upload"]["number_limits"] == 2 and entry["file_upload"]["image"]["enabled"] is True
    assert entry["site"] == {"icon": "🏔️", "icon_background": "#E4FBCC", "use_icon_as_answer_icon": True}
    # Defaults are left out: the retriever block is on, annotation replies and agents are off.
    assert not {"retriever_resource", "annotation_reply", "agent_mode", "more_like_this"} & set(entry)
    config = load_entry(entry, tmp_path, environment(imported))
    assert config.model.api_key is not None and config.model.api_key.get_secret_value() == "sk-test"
    assert config.opening_statement == "Hi {{name}}! Which trail are you thinking about?"
    assert config.suggested_questions_after_answer.enabled and config.speech_to_text.enabled
    assert config.sensitive_word_avoidance.keywords() == ["off-trail", "trespass"]


def test_an_agent_keeps_its_built_in_tools_and_their_form_values() -> None:
    imported = import_fixture("agent_time_webscraper")
    tools = imported.entry["agent_mode"]["tools"]
    assert [(t["provider_id"], t["tool_name"], t["tool_parameters"]) for t in tools] == [
        ("time", "current_time", {"timezone": "Europe/Berlin"}),
        ("webscraper", "webscraper", {}),
    ]
    # The UI's bookkeeping and the source workspace's credential id are not carried.
    assert all(
        set(t) == {"enabled", "provider_type", "provider_id", "tool_name", "tool_parameters"} for t in tools
    )
    assert imported.entry["agent_mode"]["max_iteration"] == 5
    assert imported.report.mapped == ["opening_statement", "model", "pre_prompt", "agent_mode"]


def test_a_completion_app_keeps_its_prompt_and_form(tmp_path: Path) -> None:
    imported = import_fixture("completion_app")
    entry = imported.entry
    assert entry["mode"] == "completion"
    assert entry["pre_prompt"].startswith("Write a product description for {{product}}")
    assert entry["more_like_this"] == {"enabled": True}
    assert entry["retriever_resource"] == {"enabled": False}
    config = load_entry(entry, tmp_path, environment(imported))
    assert config.mode == "completion" and config.model.provider == "anthropic"
    assert [v.field.variable for v in config.form_variables()] == ["product", "tone", "audience", "notes"]


def test_a_file_without_version_is_read_as_0_1_0_and_its_router_datasets_listed() -> None:
    imported = import_fixture("old_chat_no_version")
    assert imported.report.version == "0.1.0" and imported.report.warnings == []
    assert imported.entry["mode"] == "chat" and "agent_mode" not in imported.entry
    assert imported.entry["model"]["provider"] == "openai"
    assert imported.report.datasets == ["8a1f0c3e-52d4-4b7a-9c61-2f0e7d9b4a15"]
    assert "dataset_configs" not in imported.entry


def test_a_bound_dataset_keeps_the_retrieval_settings_that_differ() -> None:
    data = fixture_data("unknown_provider_and_tool")
    imported = import_data(data, datasets={"6e0f2a1b-3c4d-4e5f-8a9b-0c1d2e3f4a5b": "city-guides"})
    assert imported.entry["dataset_configs"] == {
        "retrieval_model": "multiple",
        "top_k": 3,
        "score_threshold_enabled": True,
        "score_threshold": 0.5,
        "reranking_enable": False,
        "datasets": {"datasets": [{"dataset": {"id": "city-guides"}}]},
    }


# --- versions and refusals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "read", "warned"),
    [
        (None, "0.1.0", False),
        ("0.1.3", "0.1.3", False),
        ("0.5.0", "0.5.0", False),
        ("0.6.0", "0.6.0", True),
        ("0.7.2", "0.7.2", True),
        (0.2, "0.2.0", True),  # a YAML number: Dify refuses it, difychat reads it with a warning
    ],
)
def test_versions_from_none_to_0_7_are_read(version: Any, read: str, warned: bool) -> None:
    data = _chat()
    data["version"] = version
    report = import_data(data).report
    assert report.version == read
    assert bool(report.warnings) is warned


@pytest.mark.parametrize("version", ["0.8.0", "1.0.0", "latest", "0.5"])
def test_versions_outside_the_range_are_refused(version: str) -> None:
    data = _chat()
    data["version"] = version
    if version == "0.5":
        assert import_data(data).report.version == "0.5.0"
        return
    (problem,) = refusal(data)
    assert version in problem


def test_every_problem_is_reported_at_once() -> None:
    problems = refusal({"version": "0.9.0", "kind": "app", "app": {"name": "x"}})
    assert problems == [
        "DSL version 0.9.0 is newer than difychat reads (0.1.0 to 0.7.x)",
        "Missing app.mode (loss app mode)",
        "Missing model_config for chat/agent-chat/completion app",
    ]
    data = _chat(
        model={"provider": "langgenius/openai/openai"},
        user_input_form={"text-input": {}},
        speech_to_text={"enabled": "sometimes"},
        suggested_questions="ask me",
    )
    assert refusal(data) == [
        "model_config.model.name: required",
        "model_config.suggested_questions: expected a list of texts",
        "model_config.user_input_form: expected a list of fields",
        "model_config.speech_to_text.enabled: Input should be a valid boolean",
    ]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "Empty content"),
        (b"- a\n- b\n", "Invalid YAML format: content must be a mapping"),
        (b"app: [unclosed\n", "Invalid YAML format: "),
        (b"\xff\xfe\x00", "Invalid YAML format: the file is not UTF-8 text"),
        (b"a: 1\n" + b"#" * dsl.MAX_BYTES, "File size exceeds the limit of 10MB"),
        (b"kind: app\nversion: 0.5.0\n", "Missing app data in YAML content"),
    ],
)
def test_files_that_are_not_dsl_are_refused_with_difys_reason(content: bytes, problem: str) -> None:
    assert refusal(content)[0].startswith(problem)


def test_a_document_that_aliases_expand_past_the_cap_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    (problem,) = refusal("\n".join(lines).encode())
    assert "expands to more than" in problem


@pytest.mark.parametrize(
    ("mode", "what"), [("workflow", "a workflow app with no nodes"), ("agent", "Agent Studio")]
)
def test_other_app_modes_are_refused(mode: str, what: str) -> None:
    data = _chat()
    data["app"]["mode"] = mode
    (problem,) = refusal(data)
    assert what in problem and problem.endswith("difychat imports chat, agent-chat and completion apps only")


# --- agents, tools, prompts, the rest -------------------------------------------------------------


def test_a_chat_app_with_an_agent_strategy_becomes_an_agent_with_its_old_style_tools() -> None:
    agent_mode = {
        "enabled": True,
        "strategy": "function_call",
        "tools": [
            {"current_datetime": {"enabled": True}},
            {"web_reader": {"enabled": True}},
            {"google_search": {"enabled": True}},
            {"dataset": {"enabled": True, "id": "0d6c1f6e-0a9b-4c38-9d3e-5a1b2c3d4e5f"}},
            {
                "enabled": True,
                "provider_type": "builtin",
                "provider_id": "time",
                "tool_name": "current_time",
                "tool_parameters": {},
            },
            {
                "enabled": True,
                "provider_type": "builtin",
                "provider_id": "langgenius/tavily/tavily",
                "tool_name": "tavily_search",
                "tool_parameters": {"search_depth": "advanced"},
            },
            {
                "enabled": True,
                "provider_type": "builtin",
                "provider_id": "time",
                "tool_name": "current_time",
                "tool_parameters": {"timezone": "Mars/Olympus"},
            },
            {
                "enabled": False,
                "provider_type": "builtin",
                "provider_id": "wikipedia",
                "tool_name": "wikipedia_search",
                "tool_parameters": {},
            },
            {
                "enabled": True,
                "provider_type": "mcp",
                "provider_id": "notes",
                "tool_name": "search",
                "tool_parameters": {},
            },
            {
                "enabled": True,
                "provider_type": "workflow",
                "provider_id": "f00",
                "tool_name": "run",
                "tool_parameters": {},
            },
            {"enabled": True, "provider_type": "builtin", "tool_name": "x"},
        ],
    }
    imported = import_data(_chat(agent_mode=agent_mode))
    entry, report = imported.entry, imported.report
    assert entry["mode"] == "agent-chat"
    assert [(t["provider_id"], t["tool_name"]) for t in entry["agent_mode"]["tools"]] == [
        ("time", "current_time"),
        ("webscraper", "webscraper"),
        ("tavily", "tavily_search"),
    ]
    assert entry["tools"] == {"tavily": {"credentials": {"api_key": "${TAVILY_API_KEY}"}}}
    assert report.env == ["OPENAI_API_KEY", "TAVILY_API_KEY"]
    assert report.datasets == ["0d6c1f6e-0a9b-4c38-9d3e-5a1b2c3d4e5f"]
    where = "model_config.agent_mode.tools"
    assert unmapped(imported) == {f"{where}[{i}]" for i in (2, 4, 6, 7, 8, 9, 10)}
    notes = {n.where: n.text for n in report.unmapped}
    assert "already listed at model_config.agent_mode.tools[0]" in notes[f"{where}[4]"]
    assert "Mars/Olympus" in notes[f"{where}[6]"]
    assert notes[f"{where}[7]"].endswith("disabled in the source; left out")
    assert "server_identifier: notes" in notes[f"{where}[8]"]
    assert notes[f"{where}[10]"] == "provider_id is required in agent_mode.tools"
    assert {n.where for n in report.changed} == {"app.mode", f"{where}[0]", f"{where}[1]"}


def test_tools_of_an_app_that_is_not_an_agent_are_reported() -> None:
    tool = {
        "enabled": True,
        "provider_type": "builtin",
        "provider_id": "time",
        "tool_name": "current_time",
        "tool_parameters": {},
    }
    imported = import_data(_chat(agent_mode={"enabled": True, "strategy": "router", "tools": [tool]}))
    assert imported.entry["mode"] == "chat" and "agent_mode" not in imported.entry
    (note,) = imported.report.unmapped
    assert note.text == "not an agent app (strategy router): Dify does not run its tools either"


def test_an_advanced_chat_prompt_becomes_pre_prompt() -> None:
    template = {
        "prompt": [
            {"role": "system", "text": "{{#context#}}\nYou are a careful editor.\n{{#histories#}}"},
            {"role": "user", "text": "{{#query#}}"},
            {"role": "assistant", "text": "Ready."},
        ]
    }
    imported = import_data(_chat(prompt_type="advanced", pre_prompt="", chat_prompt_config=template))
    assert imported.entry["pre_prompt"] == "You are a careful editor."
    assert unmapped(imported) == {"model_config.chat_prompt_config.prompt[2]"}
    assert [n.where for n in imported.report.changed] == ["model_config.chat_prompt_config.prompt"]


def test_a_missing_pre_prompt_means_none_and_dollar_braces_stay_text(tmp_path: Path) -> None:
    data = _chat()
    del data["model_config"]["pre_prompt"]
    assert "pre_prompt" not in import_data(data).entry
    text = "Prices look like ${price} or ${price:-0}; {{name}} is an input."
    imported = import_data(_chat(pre_prompt=text, opening_statement="Costs: ${COST}"))
    assert "${price}" not in imported.entry["pre_prompt"]
    config = load_entry(imported.entry, tmp_path, {**environment(imported), "price": "12", "COST": "9"})
    assert config.pre_prompt == text and config.opening_statement == "Costs: ${COST}"


def test_settings_difychat_does_not_have_are_reported() -> None:
    data = _chat(
        external_data_tools=[{"variable": "w", "type": "api", "enabled": True, "config": {}}],
        sensitive_word_avoidance={"enabled": True, "type": "openai_moderation", "config": {}},
        text_to_speech={"enabled": True, "voice": "alloy", "pitch": 3},
        user_input_form=[
            {"file": {"variable": "doc", "label": "Doc"}},
            {"text-input": {"variable": "q", "label": "Q", "json_schema": "{}"}},
        ],
        system_parameters={"a": 1},
    )
    data["model_config"]["model"]["mode"] = "completion"
    imported = import_data(data)
    assert unmapped(imported) == {
        "model_config.external_data_tools[0]",
        "model_config.sensitive_word_avoidance",
        "model_config.text_to_speech.pitch",
        "model_config.user_input_form[0]",
        "model_config.user_input_form[1].text-input.json_schema",
        "model_config.system_parameters",
    }
    assert [n.where for n in imported.report.changed] == ["model_config.model.mode"]
    assert imported.entry["user_input_form"] == [{"text-input": {"variable": "q", "label": "Q"}}]


def test_a_completion_app_cannot_bring_conversation_features() -> None:
    data = fixture_data("completion_app")
    data["model_config"].update(
        opening_statement="Hello",
        suggested_questions=["Why?"],
        suggested_questions_after_answer={"enabled": True},
        agent_mode={"enabled": True, "strategy": "function_call", "tools": []},
        dataset_configs={"datasets": {"datasets": [{"dataset": {"enabled": True, "id": "docs"}}]}},
        dataset_query_variable="notes",
    )
    imported = import_data(data)
    mc = "model_config"
    assert unmapped(imported) == {
        f"{mc}.opening_statement",
        f"{mc}.suggested_questions",
        f"{mc}.suggested_questions_after_answer",
        f"{mc}.dataset_query_variable",
        f"{mc}.dataset_configs.datasets.datasets[0]",
    }
    assert imported.entry["mode"] == "completion" and "agent_mode" not in imported.entry


@pytest.mark.parametrize(
    ("app", "site", "noted"),
    [
        ({"icon_type": "image", "icon": "9f1c0b7e-upload"}, {}, "app.icon"),
        (
            {"icon_type": "link", "icon": "https://example.com/i.png"},
            {"icon_type": "image", "icon_url": "https://example.com/i.png", "icon_background": "#FFEAD5"},
            "app.icon",
        ),
        (
            {"icon_type": "emoji", "icon": "🦊", "icon_background": "#000000"},
            {"icon": "🦊", "icon_background": "#000000"},
            None,
        ),
    ],
)
def test_icons(app: dict[str, str], site: dict[str, str], noted: str | None) -> None:
    data = _chat()
    data["app"].update(app)
    imported = import_data(data)
    assert imported.entry.get("site", {}) == site
    notes = {n.where for n in [*imported.report.changed, *imported.report.unmapped]}
    assert notes == ({noted} if noted else set())


def test_the_name_can_be_given_and_a_missing_one_is_a_problem() -> None:
    assert import_data(_chat(), name="Renamed").entry["name"] == "Renamed"
    data = _chat()
    del data["app"]["name"]
    assert refusal(data) == ["app.name: missing: give the app a name (--name)"]
