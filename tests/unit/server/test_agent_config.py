"""Agent apps in the apps file: which apps are agents, agent_mode's defaults, both styles of tool
entries, and the tools checked when the file is loaded (an app that cannot run is refused, naming
the tool and the parameter)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from difychat.server.app import bootstrap
from difychat.server.domain.agent import AgentMode, ToolEntry, canonical_provider_id
from difychat.server.domain.apps import AppConfig
from difychat.server.services.agent.toolsets import AgentToolsets
from difychat.server.settings import ConfigFileError, Settings
from difychat.server.tools import builtin
from difychat.server.tools.base import Tool, ToolContext, ToolOutput, ToolParameter, ToolProvider, ToolSpec
from difychat.server.tools.registry import ToolRegistry, bind

pytestmark = pytest.mark.anyio


class FakeTool:
    def __init__(self, spec: ToolSpec) -> None:
        self.spec = spec

    async def invoke(self, arguments: Mapping[str, Any], context: ToolContext) -> Sequence[ToolOutput]:
        return []


class FakeProvider:
    def __init__(self, provider_id: str, tools: Sequence[Tool], provider_type: str = "builtin") -> None:
        self.provider_type = provider_type
        self.provider_id = provider_id
        self._tools = tools

    async def tools(self) -> Sequence[Tool]:
        return self._tools

    async def close(self) -> None:
        pass


def _builtins(*ids: str) -> list[ToolProvider]:
    found = [builtin.definition(i) for i in ids]
    return [d.build() for d in found if d is not None]


TIME = {
    "enabled": True,
    "provider_type": "builtin",
    "provider_id": "time",
    "tool_name": "current_time",
    "tool_parameters": {"timezone": "UTC"},
}


def agent(*tools: dict[str, Any], **extra: Any) -> AppConfig:
    return AppConfig.model_validate(
        {"name": "A", "mode": "agent-chat", "agent_mode": {"tools": list(tools)}, **extra}
    )


@pytest.mark.parametrize(
    ("mode", "agent_mode", "expected"),
    [
        ("agent-chat", {}, "agent-chat"),
        ("chat", {"enabled": True, "strategy": "function_call"}, "agent-chat"),
        ("chat", {"enabled": True, "strategy": "react"}, "agent-chat"),
        ("chat", {"enabled": True, "strategy": "cot"}, "agent-chat"),
        ("chat", {"enabled": True}, "chat"),  # strategy absent: the legacy router
        ("chat", {"enabled": True, "strategy": "router"}, "chat"),
        ("chat", {"enabled": True, "strategy": "react_router"}, "chat"),
        ("chat", {"enabled": False, "strategy": "function_call"}, "chat"),
    ],
)
def test_which_apps_are_agents(mode: str, agent_mode: dict[str, Any], expected: str) -> None:
    config = AppConfig.model_validate({"name": "A", "mode": mode, "agent_mode": agent_mode})
    assert config.mode == expected and config.is_agent == (expected == "agent-chat")


def test_max_iteration_defaults_to_ten_and_runs_at_most_ninety_nine() -> None:
    assert AgentMode().max_iteration == 10 and AgentMode().iterations == 10
    assert AgentMode(max_iteration=500).iterations == 99


def test_short_builtin_ids_are_the_plugin_form() -> None:
    assert canonical_provider_id("builtin", "time") == "langgenius/time/time"
    assert canonical_provider_id("builtin", "langgenius/time/time") == "langgenius/time/time"
    assert canonical_provider_id("builtin", "jina") == "langgenius/jina_tool/jina"
    assert canonical_provider_id("mcp", "time") == "time"


def test_entries_of_both_styles_are_read_and_disabled_ones_skipped() -> None:
    mode = AgentMode.model_validate(
        {
            "tools": [
                {**TIME, "provider_name": "time", "tool_label": "Current Time", "isDeleted": False},
                {**TIME, "enabled": False},
                {"current_datetime": {"enabled": True}},
                {"web_reader": {"enabled": True}},
                {"wikipedia": {"enabled": False}},
                {"dataset": {"enabled": True, "id": "0f1e"}},
            ]
        }
    )
    entries, problems = mode.tool_entries()
    assert [(e.provider_id, e.tool_name, e.legacy) for e in entries] == [
        ("time", "current_time", None),
        ("time", "current_time", "current_datetime"),
        ("webscraper", "webscraper", "web_reader"),
    ]
    assert [(p.where, p.skippable) for p in problems] == [("agent_mode.tools[5]", True)]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"provider_id": "time", "tool_name": "t", "tool_parameters": {}}, "provider_type is required"),
        ({"provider_type": "builtin", "tool_name": "t", "tool_parameters": {}}, "provider_id is required"),
        ({"provider_type": "builtin", "provider_id": "time", "tool_parameters": {}}, "tool_name is required"),
    ],
)
async def test_entries_missing_a_key_are_refused_with_difys_words(
    entry: dict[str, Any], message: str
) -> None:
    problems = await AgentToolsets().check(agent(entry))
    assert problems and message in problems[0] and "agent_mode.tools[0]" in problems[0]


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({**TIME, "tool_name": "current_weather"}, ["tools[0]", "current_weather", "current_time"]),
        ({**TIME, "provider_id": "weather"}, ["tools[0]", "no builtin tool provider 'weather'"]),
        (
            {**TIME, "tool_parameters": {"timezone": "Mars/Olympus"}},
            ["current_time", "timezone", "Mars/Olympus"],
        ),
        ({**TIME, "provider_type": "plugin"}, ["current_time", "plugin tools are not supported"]),
        ({**TIME, "provider_type": "workflow"}, ["workflow tools are not supported"]),
        ({**TIME, "provider_type": "app"}, ["app tools are not supported"]),
        ({**TIME, "provider_type": "api", "provider_id": "pets"}, ["no api tool provider 'pets'"]),
        ({**TIME, "provider_type": "mcp", "provider_id": "srv"}, ["no mcp tool provider 'srv'"]),
    ],
)
async def test_tools_that_cannot_run_refuse_the_app(entry: dict[str, Any], words: list[str]) -> None:
    problems = await AgentToolsets().check(agent(entry))
    assert len(problems) == 1
    for word in words:
        assert word in problems[0]


async def test_blank_form_values_take_their_defaults() -> None:
    assert (
        await AgentToolsets().check(agent({**TIME, "tool_parameters": {"format": "", "timezone": ""}})) == []
    )


async def test_a_missing_required_form_value_names_the_tool_and_the_parameter() -> None:
    spec = ToolSpec(
        "builtin", "weather", "forecast", "A forecast", (ToolParameter("region", form="form", required=True),)
    )
    registry = ToolRegistry([FakeProvider("weather", [FakeTool(spec)])])
    entry = ToolEntry("builtin", "weather", "forecast", {"region": ""}, "agent_mode.tools[0]")
    binding = await bind([entry], [], registry, list_dynamic=False)
    (problem,) = binding.problems
    assert "agent_mode.tools[0]" in problem and "forecast" in problem and "region" in problem


async def test_usable_entries_check_clean_and_bind() -> None:
    config = agent(TIME, {"current_datetime": {"enabled": True}}, {"google_search": {"enabled": True}})
    toolsets = AgentToolsets()
    assert await toolsets.check(config) == []
    tools = await toolsets.tools(config, config, "v1")
    # The same tool listed twice is bound once; an old-style entry whose tool is not installed is
    # reported and left out.
    assert [t.name for t in tools] == ["current_time"]
    await toolsets.close()


async def test_two_tools_of_one_name_are_refused() -> None:
    spec = ToolSpec("api", "clock", "current_time", "Another clock")
    registry = ToolRegistry([*_builtins("time"), FakeProvider("clock", [FakeTool(spec)], "api")])
    entries = [
        ToolEntry("builtin", "time", "current_time", {}, "agent_mode.tools[0]"),
        ToolEntry("api", "clock", "current_time", {}, "agent_mode.tools[1]"),
    ]
    binding = await bind(entries, [], registry, list_dynamic=False)
    assert binding.problems == [
        "agent_mode.tools[1] (api tool clock/current_time): the tool name 'current_time' is already used by "
        "agent_mode.tools[0]"
    ]


async def test_chat_apps_are_not_checked() -> None:
    config = AppConfig.model_validate(
        {"name": "A", "agent_mode": {"tools": [{"tool_name": "x", "icon": "y"}]}}
    )
    assert await AgentToolsets().check(config) == []


async def test_the_server_does_not_start_with_an_agent_that_cannot_run(tmp_path: Path) -> None:
    apps = {
        "apps": [
            {
                "name": "Broken",
                "mode": "agent-chat",
                "agent_mode": {"tools": [{**TIME, "tool_parameters": {"timezone": "Nowhere/City"}}]},
            }
        ]
    }
    path = tmp_path / "apps.yaml"
    path.write_text(yaml.safe_dump(apps))
    settings = Settings(data_dir=tmp_path / "data", config=path)
    with pytest.raises(ConfigFileError) as caught:
        await bootstrap(settings)
    message = str(caught.value)
    assert 'app "Broken"' in message and "current_time" in message and "timezone" in message


def test_tool_entries_keep_the_place_they_were_written() -> None:
    (entry,), _ = AgentMode.model_validate({"tools": [TIME]}).tool_entries()
    assert entry == ToolEntry("builtin", "time", "current_time", {"timezone": "UTC"}, "agent_mode.tools[0]")
    assert entry.canonical_id == "langgenius/time/time"


def test_model_capabilities_default_by_provider() -> None:
    openai = AppConfig.model_validate({"name": "A", "model": {"provider": "openai"}}).model.abilities()
    assert (openai.tool_call, openai.stream_tool_call, openai.vision) == (True, True, True)
    echo = AppConfig.model_validate({"name": "A", "model": {"provider": "echo"}}).model.abilities()
    assert (echo.tool_call, echo.stream_tool_call) == (False, False)
    declared = AppConfig.model_validate(
        {"name": "A", "model": {"provider": "anthropic", "capabilities": {"stream_tool_call": False}}}
    ).model.abilities()
    assert (declared.tool_call, declared.stream_tool_call) == (True, False)
