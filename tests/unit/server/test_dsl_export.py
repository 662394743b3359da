"""The DSL an app of the apps file exports as (contract A8), and adding an entry to an apps file."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from difychat.server import dsl
from difychat.server.domain.apps import AppConfig
from difychat.server.dsl.apps_text import AppsFileError, add_entry
from difychat.server.dsl.document import CURRENT_VERSION
from difychat.server.dsl.importer import MODEL_CONFIG_KEYS

SECRETS = ("sk-model-secret", "tv-tool-secret", "mcp-header-secret", "api-tool-secret", "app-secretsecret1")


def _config(**fields: Any) -> AppConfig:
    return AppConfig.model_validate({"name": "Helper", "model": {"name": "gpt-4o-mini"}, **fields})


def test_the_document_has_difys_shape_with_keys_sorted() -> None:
    exported = dsl.export_app(_config(site={"icon": "🦉", "icon_background": "#E0F2FE"}))
    document = exported.document
    assert list(document) == ["app", "dependencies", "kind", "model_config", "version"]
    assert document["version"] == CURRENT_VERSION == "0.5.0"
    assert document["kind"] == "app" and document["dependencies"] == []
    assert document["app"] == {
        "description": "",
        "icon": "🦉",
        "icon_background": "#E0F2FE",
        "mode": "chat",
        "name": "Helper",
        "use_icon_as_answer_icon": False,
    }
    assert set(document["model_config"]) == set(MODEL_CONFIG_KEYS) and len(MODEL_CONFIG_KEYS) == 20
    assert document["model_config"]["model"] == {
        "completion_params": {},
        "mode": "chat",
        "name": "gpt-4o-mini",
        "provider": "langgenius/openai/openai",
    }
    text = dsl.dump_dsl(document)
    assert "🦉" in text  # Unicode kept, not escaped
    # Keys sorted at every level, block style: what Dify's yaml.dump writes.
    assert text == yaml.safe_dump(yaml.safe_load(text), allow_unicode=True, sort_keys=True)
    assert text.startswith("app:\n  description: ''\n  icon: 🦉\n")
    # Dify 1.12 reads it as its own version, with nothing to warn about.
    assert dsl.read_document(text).warnings == []
    assert exported.report.plugins == ["langgenius/openai"]


def test_no_credential_is_ever_written() -> None:
    config = _config(
        api_keys=["app-secretsecret1"],
        model={"name": "m", "api_key": "sk-model-secret", "base_url": "https://proxy.example/v1"},
        mode="agent-chat",
        agent_mode={
            "tools": [
                {
                    "enabled": True,
                    "provider_type": "builtin",
                    "provider_id": "tavily",
                    "tool_name": "tavily_search",
                    "tool_parameters": {},
                    "credential_id": "c-1",
                }
            ]
        },
        tools={"tavily": {"credentials": {"api_key": "tv-tool-secret"}}},
        mcp_servers=[
            {
                "server_identifier": "notes",
                "server_url": "https://mcp.example/mcp",
                "headers": {"Authorization": "mcp-header-secret"},
            }
        ],
        openapi_tools=[
            {
                "name": "weather",
                "openapi": "{}",
                "credentials": {"auth_type": "api_key_header", "api_key_value": "api-tool-secret"},
            }
        ],
        text_to_speech={"enabled": True, "api_key": "sk-model-secret"},
    )
    exported = dsl.export_app(config)
    text = dsl.dump_dsl(exported.document)
    assert not [s for s in SECRETS if s in text]
    assert "credential_id" not in text and "proxy.example" not in text and "mcp.example" not in text
    assert {n.where for n in exported.report.unmapped} >= {
        "api_keys",
        "tools",
        "mcp_servers",
        "openapi_tools",
        "model.base_url",
        "model.api_key",
        "text_to_speech.api_key",
    }
    assert not [s for s in SECRETS if s in exported.report.render("to x.yml")]


def test_agents_tools_are_written_as_dify_names_them_with_the_plugins_needed() -> None:
    tools = [
        {
            "enabled": True,
            "provider_type": "builtin",
            "provider_id": "langgenius/time/time",
            "tool_name": "current_time",
            "tool_parameters": {"timezone": "UTC"},
        },
        {
            "enabled": True,
            "provider_type": "builtin",
            "provider_id": "wikipedia",
            "tool_name": "wikipedia_search",
            "tool_parameters": {},
        },
        {
            "enabled": True,
            "provider_type": "builtin",
            "provider_id": "calculator",
            "tool_name": "calculator",
            "tool_parameters": {},
        },
        {"web_reader": {"enabled": True}},
        {
            "enabled": True,
            "provider_type": "mcp",
            "provider_id": "notes",
            "tool_name": "search",
            "tool_parameters": {},
        },
    ]
    exported = dsl.export_app(
        _config(
            mode="agent-chat", model={"provider": "anthropic", "name": "claude"}, agent_mode={"tools": tools}
        )
    )
    agent = exported.document["model_config"]["agent_mode"]
    assert (agent["enabled"], agent["strategy"], agent["max_iteration"]) == (True, "function_call", 10)
    written = [
        (t["provider_type"], t["provider_id"], t["tool_name"], t.get("tool_label")) for t in agent["tools"]
    ]
    assert written == [
        ("builtin", "time", "current_time", "Current Time"),
        ("builtin", "langgenius/wikipedia/wikipedia", "wikipedia_search", written[1][3]),
        ("builtin", "calculator", "calculator", written[2][3]),
        ("builtin", "webscraper", "webscraper", "Web Scraper"),
        ("mcp", "notes", "search", None),
    ]
    assert exported.report.plugins == ["langgenius/anthropic", "langgenius/wikipedia"]
    assert exported.document["model_config"]["model"]["provider"] == "langgenius/anthropic/anthropic"
    assert {n.where for n in exported.report.changed} == {
        "agent_mode.tools[2]",
        "agent_mode.tools[3]",
        "agent_mode.tools[4]",
    }


def test_datasets_are_written_as_their_ids() -> None:
    configs = {
        "retrieval_model": "multiple",
        "top_k": 6,
        "datasets": {
            "datasets": [
                {"dataset": {"id": "1b0c9a8d-7e6f-4a5b-8c9d-0e1f2a3b4c5d"}},
                {"dataset": {"name": "handbook"}},
            ]
        },
    }
    exported = dsl.export_app(_config(dataset_configs=configs))
    written = exported.document["model_config"]["dataset_configs"]
    assert written["datasets"]["datasets"] == [
        {"dataset": {"enabled": True, "id": "1b0c9a8d-7e6f-4a5b-8c9d-0e1f2a3b4c5d"}},
        {"dataset": {"enabled": True, "id": "handbook"}},
    ]
    assert written["top_k"] == 6 and written["retrieval_model"] == "multiple"
    assert exported.report.datasets == ["1b0c9a8d-7e6f-4a5b-8c9d-0e1f2a3b4c5d", "handbook"]


@pytest.mark.parametrize(
    ("site", "icon"),
    [
        ({}, ("🤖", "#FFEAD5")),
        ({"icon": "🐙", "icon_background": "#123456"}, ("🐙", "#123456")),
        ({"icon_type": "image", "icon_url": "https://example.com/i.png"}, ("🤖", "#FFEAD5")),
    ],
)
def test_icons_are_written_as_they_are_and_images_as_the_robot(
    site: dict[str, str], icon: tuple[str, str]
) -> None:
    app = dsl.export_app(_config(site=site)).document["app"]
    assert (app["icon"], app["icon_background"]) == icon


def test_difychat_settings_with_no_place_are_reported_and_echo_is_named() -> None:
    config = _config(
        model={"provider": "echo", "name": "echo"},
        memory={"max_messages": 4},
        max_active_requests=2,
        site={"title": "Help", "copyright": "Us"},
        annotation_reply={"enabled": True},
    )
    report = dsl.export_app(config).report
    assert {n.where for n in report.unmapped} == {
        "memory",
        "max_active_requests",
        "site.title",
        "site.copyright",
        "annotation_reply",
    }
    assert report.plugins == [] and [n.where for n in report.changed] == ["model.provider"]


# --- adding an entry to an apps file --------------------------------------------------------------

ENTRY = {"name": "New", "model": {"provider": "echo", "name": "echo"}, "pre_prompt": "Line one.\nLine two."}


def test_an_entry_is_added_after_the_last_app_keeping_comments() -> None:
    text = (
        "# our apps\n"
        "apps:\n"
        "  # the first one\n"
        "  - name: One  # inline\n"
        "    model: {provider: echo, name: echo}\n"
        "\n"
        "# datasets below\n"
        "datasets:\n"
        "  - name: docs\n"
    )
    added = add_entry(text, ENTRY)
    assert added.kept_layout
    assert added.text.startswith(text.split("\n# datasets")[0])
    assert "# the first one" in added.text and "# datasets below\ndatasets:\n  - name: docs\n" in added.text
    assert (
        "  - name: New\n" in added.text
        and "    pre_prompt: |-\n      Line one.\n      Line two.\n" in added.text
    )
    data = yaml.safe_load(added.text)
    assert [a["name"] for a in data["apps"]] == ["One", "New"] and data["datasets"] == [{"name": "docs"}]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("", True),
        ("# nothing yet\n", True),
        ("datasets:\n- name: docs\n", True),
        ("apps:\n", True),
        ("apps:\n- name: One\n  model: {provider: echo}\n", True),
        ("apps: [{name: One}]\n", False),
    ],
)
def test_any_apps_file_takes_the_entry(text: str, kept: bool) -> None:
    added = add_entry(text, ENTRY)
    assert added.kept_layout is kept
    apps = yaml.safe_load(added.text)["apps"]
    assert apps[-1] == ENTRY and len(apps) == (2 if "One" in text else 1)


@pytest.mark.parametrize("text", ["apps: {a: 1}\n", "- a\n", "apps: [\n"])
def test_a_file_that_is_not_an_apps_file_is_refused(text: str) -> None:
    with pytest.raises(AppsFileError):
        add_entry(text, ENTRY)
