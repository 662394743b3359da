"""``difychat chat`` with an agent app: tool steps and produced files, in rich and plain output."""

from __future__ import annotations

import io
import json
import sys
from typing import Any

import httpx
import pytest

from difychat import DifyChat
from difychat.cli._console import Output, PlainOutput, RichOutput, make_output
from difychat.cli._session import ChatSession
from difychat.cli._steps import AgentSteps, one_line, resolve_url
from difychat.types import AgentThought
from tests.unit.client.client_fakes import event
from tests.unit.client.test_agent_chat import AGENT_MESSAGE, agent_run, end, text, thought, tool_file
from tests.unit.client.test_cli_chat import App, lines, run

FILE_LINK = "http://app.test/files/tools/5f0e.png?timestamp=1735689601&nonce=4fd3&sign=Qm9="


def frames(*payloads: dict[str, Any]) -> list[bytes | BaseException]:
    return [event(payload) for payload in payloads]


def answer_lines(output: str) -> list[str]:
    """The lines from the first ``bot>`` on, without trailing blanks."""
    start = output.index("bot>")
    return [line.rstrip() for line in output[start:].splitlines()]


@pytest.fixture
def app() -> App:
    return App()


def test_tool_steps_and_files_are_shown_once_between_the_streamed_text(app: App) -> None:
    app.answers.append(frames(*agent_run()))
    output = run(app, "Ann", "What time is it?")
    assert answer_lines(output)[:5] == [
        "bot> Let me check.",
        '  [tool] current_time {"timezone": "UTC"}',
        f"  [image] {FILE_LINK}",
        "  [tool] current_time -> 2025-01-01 12:00:00",
        "It is 12:00 UTC.",
    ]
    assert output.count("[tool] current_time {") == 1
    assert output.count("->") == 1


def test_republished_rounds_and_files_add_no_lines(app: App) -> None:
    call = '{"search": {"q": "cats"}}'
    called = thought("a1", 1, tool="search", tool_input=call)
    observed = thought("a1", 1, tool="search", tool_input=call, observation='{"search": "3 cats"}')
    app.answers.append(
        frames(
            thought("a1", 1),
            called,
            called,
            tool_file(),
            tool_file(),
            observed,
            observed,
            thought("b2", 2),
            text("Three."),
            thought("b2", 2, thought="Three."),
            end(),
        )
    )
    output = run(app, "Ann", "How many cats?")
    assert answer_lines(output)[:5] == [
        "bot>",
        '  [tool] search {"q": "cats"}',
        f"  [image] {FILE_LINK}",
        "  [tool] search -> 3 cats",
        "Three.",
    ]


def test_long_and_multi_line_steps_are_cut_to_one_line(app: App) -> None:
    long_query = "cats " * 40
    page = "TITLE: Cats\n\nTEXT: " + "Cats are small carnivorous mammals. " * 10
    call = json.dumps({"webscraper": {"url": "https://example.com/cats", "q": long_query}})
    observed = json.dumps({"webscraper": page, "current_time": "12:00"})
    tools = "webscraper;current_time"
    app.answers.append(
        frames(
            thought("a1", 1, tool=tools, tool_input=call),
            thought("a1", 1, tool=tools, tool_input=call, observation=observed),
            end(),
        )
    )
    steps = answer_lines(run(app, "Ann", "Read about cats"))[1:5]
    assert steps[0].startswith('  [tool] webscraper {"url": "https://example.com/cats", "q": "cats cats')
    assert steps[0].endswith("...") and len(steps[0]) <= len("  [tool] webscraper ") + 80
    assert steps[1] == "  [tool] current_time"
    assert steps[2].startswith("  [tool] webscraper -> TITLE: Cats TEXT: Cats are small")
    assert steps[2].endswith("...") and len(steps[2]) <= len("  [tool] webscraper -> ") + 100
    assert steps[3] == "  [tool] current_time -> 12:00"


def test_a_step_arriving_with_its_observation_shows_the_call_first() -> None:
    out = io.StringIO()
    steps = AgentSteps(PlainOutput(out), base_url="http://app.test/v1")
    steps.thought(AgentThought(id="a1", tool="calc", tool_input='{"calc": {"x": "1+1"}}', observation="2"))
    steps.thought(AgentThought(id="a1", tool="calc", tool_input='{"calc": {"x": "1+1"}}', observation="2"))
    steps.thought(AgentThought(id="b2", tool="a;b", observation="not an object"))
    assert out.getvalue().splitlines() == [
        '  [tool] calc {"x": "1+1"}',
        "  [tool] calc -> 2",
        "  [tool] a",
        "  [tool] b",
        "  [tool] a;b -> not an object",
    ]


def test_history_shows_the_steps_before_the_answer_and_the_tool_files(app: App) -> None:
    app.history = [AGENT_MESSAGE]
    output = run(app, "Ann", conversation_id="c0ffee00-3333")
    assert "you> What time is it? And draw it." in output
    assert answer_lines(output)[:6] == [
        "bot>",
        '  [tool] current_time {"timezone": "UTC"}',
        "  [tool] current_time -> 2025-01-01 12:00:00",
        "Let me check.",
        "It is 12:00 UTC.",
        f"  [image] {FILE_LINK}",
    ]
    assert "cat.png" not in output  # the user's own upload is not a produced file


def rich_session(app: App, *inputs: str) -> str:
    out = io.StringIO()
    http = httpx.Client(transport=httpx.MockTransport(app))
    client = DifyChat("app-cli", base_url="http://app.test/v1", http_client=http)
    session = ChatSession(client, RichOutput(out), user="carol", read_line=lines(*inputs))
    session.start()
    assert session.run() == 0
    return out.getvalue()


def test_rich_output_shows_the_same_steps(app: App) -> None:
    app.answers.append(frames(*agent_run()))
    output = rich_session(app, "Ann", "What time is it?")
    assert answer_lines(output)[:5] == [
        "bot> Let me check.",
        '  tool current_time {"timezone": "UTC"}',
        f"  image {FILE_LINK}",
        "  tool current_time -> 2025-01-01 12:00:00",
        "It is 12:00 UTC.",
    ]


def test_plain_fallback_when_rich_is_missing(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)  # import rich -> ImportError
    out = io.StringIO()
    output: Output = make_output(file=out)
    assert isinstance(output, PlainOutput)
    app.answers.append(frames(*agent_run()))
    http = httpx.Client(transport=httpx.MockTransport(app))
    client = DifyChat("app-cli", base_url="http://app.test/v1", http_client=http)
    session = ChatSession(client, output, user="carol", read_line=lines("Ann", "What time is it?"))
    session.start()
    assert session.run() == 0
    assert "  [tool] current_time -> 2025-01-01 12:00:00" in out.getvalue()


def test_a_stopped_note_follows_a_step_on_its_own_line() -> None:
    out = io.StringIO()
    plain = PlainOutput(out)
    plain.answer_start()
    plain.delta("Checking")
    plain.tool_call("search", "")
    plain.answer_end("stopped")
    plain.answer_start()
    plain.delta("done")
    plain.answer_end()
    assert out.getvalue().splitlines() == ["bot> Checking", "  [tool] search", "[stopped]", "bot> done"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://cdn.example/x.png", "https://cdn.example/x.png"),
        ("/files/tools/x.png?sign=a%2Fb=", "http://app.test:5001/files/tools/x.png?sign=a%2Fb="),
        ("files/tools/x.png", "http://app.test:5001/files/tools/x.png"),
        ("//cdn.example/x.png", "http://cdn.example/x.png"),
    ],
)
def test_file_links_resolve_against_the_api_origin(url: str, expected: str) -> None:
    assert resolve_url(url, "http://app.test:5001/v1") == expected


def test_one_line_flattens_and_cuts() -> None:
    assert one_line("a\n\n b\tc ", 10) == "a b c"
    assert one_line("x" * 20, 10) == "xxxxxxx..."
