"""Pure pieces of agent answers: the ReAct parser, a round's wire strings, history replay."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from difychat.server.domain.thoughts import AgentThought, StoredCall
from difychat.server.providers.prompt import PromptMessage, TextPart, ToolCallPart, ToolResultPart
from difychat.server.services.agent.history import is_final, turn_messages
from difychat.server.services.agent.react import Action, ReActParser, action_of
from difychat.server.services.agent.rounds import Call, Round
from difychat.server.tools.invoke import ToolRun


def parse(*chunks: str) -> list[str | Action]:
    parser = ReActParser()
    out: list[str | Action] = []
    for chunk in chunks:
        out += parser.feed(chunk)
    out += parser.end()
    merged: list[str | Action] = []
    for item in out:
        if isinstance(item, str) and merged and isinstance(merged[-1], str):
            merged[-1] += item
        else:
            merged.append(item)
    return merged


BLOB = (
    "Thought: I need the time.\nAction:\n"
    '```json\n{"action": "current_time", "action_input": {"tz": "UTC"}}\n```'
)


@pytest.mark.parametrize("size", [1, 3, 7, len(BLOB)])
def test_labels_are_dropped_and_the_fenced_action_is_taken_out_however_it_is_split(size: int) -> None:
    chunks = [BLOB[i : i + size] for i in range(0, len(BLOB), size)]
    assert parse(*chunks) == [" I need the time.\n\n", Action("current_time", {"tz": "UTC"})]


def test_labels_in_any_case_after_a_space_or_newline_go_and_other_words_stay() -> None:
    text = "THOUGHT: the thoughtful actor acts.\nACTION: none"
    assert parse(text) == [" the thoughtful actor acts.\n none"]


def test_a_bare_object_is_an_action_too_and_a_one_item_list_is_unwrapped() -> None:
    assert parse('Action: {"action": "Final Answer", "action_input": "Hi {you}"}') == [
        " ",
        Action("Final Answer", "Hi {you}"),
    ]
    assert action_of([{"tool": "calc", "tool_input": "1+1"}]) == Action("calc", "1+1")


def test_json_that_is_not_an_action_is_shown_as_text() -> None:
    assert parse('Use {"a": 1} and ```python\nprint(1)\n``` here') == [
        'Use {"a": 1} and ```python\nprint(1)\n``` here'
    ]


def test_an_unclosed_fence_at_the_end_is_still_read() -> None:
    assert parse('```\n{"action": "calc", "action_input": "2"}\n') == [Action("calc", "2")]


def test_final_answer_names() -> None:
    assert is_final("Final Answer") and is_final("final_answer") and not is_final("answer_lookup")


def round_with(*calls: Call) -> Round:
    row = Round("r1", "m1", 1, datetime(2025, 1, 1))
    row.calls = list(calls)
    return row


def test_a_rounds_wire_strings_key_by_name_with_dify_separators_and_unescaped_text() -> None:
    first = Call("c1", "translate", '{"text": "你好"}', {"en_US": "translate", "zh_Hans": "translate"})
    second = Call("c2", "clock", "{}", {"en_US": "clock", "zh_Hans": "clock"})
    first.run = ToolRun("hello", arguments={"text": "你好"})
    row = round_with(first, second)
    assert row.tool() == "translate;clock"
    assert row.tool_input() == '{"translate": {"text": "你好"}, "clock": {}}'
    assert row.observation() == '{"translate": "hello"}'
    assert row.event().tool_labels == {"translate": first.labels, "clock": second.labels}


def thought(**values: Any) -> AgentThought:
    base: dict[str, Any] = {
        "id": "t",
        "message_id": "m",
        "position": 1,
        "thought": "",
        "tool": "",
        "tool_labels": {},
        "tool_input": "",
        "observation": "",
        "tool_meta": {},
        "calls": (),
        "files": (),
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "created_at": datetime(2025, 1, 1),
    }
    return AgentThought(**{**base, **values})


def test_a_turn_without_rounds_replays_its_answer() -> None:
    assert turn_messages("q", "a", (), as_text=False) == [
        PromptMessage("user", "q"),
        PromptMessage("assistant", "a"),
    ]


def test_rounds_replay_each_stored_call_with_its_result() -> None:
    calls = (StoredCall("x1", "calc", '{"e": "1"}', "1"), StoredCall("x2", "calc", '{"e": "2"}', "2"))
    rows = [
        thought(thought="Two sums.", tool="calc;calc", calls=calls),
        thought(position=2, thought="1 and 2."),
    ]
    assert turn_messages("q", "1 and 2.", rows, as_text=False) == [
        PromptMessage("user", "q"),
        PromptMessage(
            "assistant",
            (
                TextPart("Two sums."),
                ToolCallPart("x1", "calc", '{"e": "1"}'),
                ToolCallPart("x2", "calc", '{"e": "2"}'),
            ),
        ),
        PromptMessage("tool", (ToolResultPart("x1", "1"), ToolResultPart("x2", "2"))),
        PromptMessage("assistant", "1 and 2."),
    ]


def test_rows_without_their_calls_are_read_from_the_wire_strings() -> None:
    row = thought(tool="clock", tool_input='{"clock": {"tz": "UTC"}}', observation='{"clock": "noon"}')
    _, assistant, results = turn_messages("q", "", [row], as_text=False)
    assert isinstance(assistant.content, tuple)
    (call,) = assistant.content
    assert isinstance(call, ToolCallPart) and (call.name, call.arguments) == ("clock", '{"tz": "UTC"}')
    assert results == PromptMessage("tool", (ToolResultPart(call.id, "noon"),))


def test_a_react_final_answer_replays_as_the_answer() -> None:
    calls = (StoredCall("f", "Final Answer", '"It is noon."', ""),)
    rows = [thought(thought="I know it.", tool="Final Answer", calls=calls)]
    for as_text in (True, False):
        assert turn_messages("q", "It is noon.", rows, as_text=as_text)[1] == PromptMessage(
            "assistant", "It is noon."
        )


def test_react_models_read_earlier_rounds_as_text() -> None:
    calls = (StoredCall("x1", "clock", "{}", "noon"),)
    _, assistant = turn_messages(
        "q", "", [thought(thought="Need the time.", tool="clock", calls=calls)], as_text=True
    )
    assert assistant == PromptMessage(
        "assistant",
        'Thought: Need the time.\nAction: ```{"action": "clock", "action_input": {}}```\nObservation: noon',
    )
