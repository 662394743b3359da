"""``difychat serve`` with an agent app, driven by Dify's official Python SDK (``dify-client``) the
way its README streams: the agent's thoughts, its text as ``agent_message`` deltas, the end; then
the history with the stored rounds, and a follow-up turn."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dify_client import ChatClient

from tests.e2e.conftest import Database, Launcher, write_apps
from tests.fakes.upstream import FakeUpstream, Round, ScriptedCall

AGENT_SDK_KEY = "app-agentsdkagentsdkagent001"


def readme_stream(response: Any) -> list[dict[str, Any]]:
    events = []
    for line in response.iter_lines(decode_unicode=True):
        line = line.split("data:", 1)[-1]
        if line.strip():
            events.append(json.loads(line.strip()))
    return events


def test_python_sdk_streams_an_agent_answer(
    launcher: Launcher, upstream: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def add_agent(document: dict[str, Any]) -> None:
        document["apps"].append(
            {
                "name": "Agent SDK",
                "mode": "chat",
                "api_keys": [AGENT_SDK_KEY],
                "model": {
                    "provider": "openai",
                    "name": "fake-model",
                    "base_url": upstream.base_url,
                    "api_key": "sk-test",
                },
                "agent_mode": {
                    "enabled": True,
                    "strategy": "function_call",
                    "tools": [
                        {
                            "enabled": True,
                            "provider_type": "builtin",
                            "provider_id": "calculator",
                            "tool_name": "calculator",
                            "tool_parameters": {},
                        },
                    ],
                },
            }
        )

    config = write_apps(tmp_path / "apps.yaml", upstream, add_agent)
    served = launcher.new(Database("sqlite", None), config=config)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    sdk = ChatClient(AGENT_SDK_KEY)
    sdk.base_url = served.v1

    upstream.behaviour.rounds = [
        Round(chunks=["Let me work it out."], calls=[ScriptedCall("calculator", '{"expression": "6 * 7"}')]),
        Round(chunks=["It is ", "42."]),
    ]
    response = sdk.create_chat_message(
        inputs={}, query="6 times 7?", user="sdk-user", response_mode="streaming"
    )
    response.raise_for_status()
    events = readme_stream(response)
    kinds = [e["event"] for e in events]
    assert kinds == [
        "agent_thought",
        "agent_message",
        "agent_thought",
        "agent_thought",
        "agent_thought",
        "agent_message",
        "agent_message",
        "agent_thought",
        "message_end",
    ]
    assert (
        events[2]["tool"] == "calculator"
        and events[2]["tool_input"] == '{"calculator": {"expression": "6 * 7"}}'
    )
    assert events[3]["observation"] == '{"calculator": "42"}'
    conversation_id = events[-1]["conversation_id"]

    history = sdk.get_conversation_messages(user="sdk-user", conversation_id=conversation_id)
    history.raise_for_status()
    (message,) = history.json()["data"]
    assert message["answer"] == "Let me work it out.\nIt is 42."
    assert [(t["position"], t["tool"]) for t in message["agent_thoughts"]] == [(1, "calculator"), (2, "")]

    upstream.behaviour.rounds = [Round(chunks=["Still 42."])]
    follow_up = sdk.create_chat_message(
        inputs={}, query="Sure?", user="sdk-user", response_mode="blocking", conversation_id=conversation_id
    )
    follow_up.raise_for_status()
    assert follow_up.json()["answer"] == "Still 42." and follow_up.json()["mode"] == "agent-chat"
    replayed = upstream.requests[-1].body["messages"]
    assert [m["role"] for m in replayed] == ["user", "assistant", "tool", "assistant", "user"]
    assert replayed[2]["content"] == "42"
