from __future__ import annotations

import pytest

from difychat.server.errors import InvalidParam
from difychat.server.services.suggestions import INSTRUCTION, build_prompt, history_text, parse_questions
from difychat.server.services.variables import check_name_filter


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('["A?", "B?", "C?"]', ["A?", "B?", "C?"]),
        ('Sure, here you go:\n["A?", 1, null, "B?"]\nanything else?', ["A?", "B?"]),
        ('[see below] then ["A?"]', ["A?"]),
        ('```json\n["  A?  ", ""]\n```', ["A?"]),
        ('["A?"] and ["B?"]', ["A?"]),
        ("no list here", []),
        ("[unclosed", []),
        ("", []),
        ('{"a": ["nested?"]}', ["nested?"]),
    ],
)
def test_parse_questions(reply: str, expected: list[str]) -> None:
    assert parse_questions(reply) == expected


def test_prompt_has_history_lines_then_the_instruction() -> None:
    (message,) = build_prompt([("Hi", "Hello!"), ("Price?", "Ten euros.")])
    assert message.role == "user"
    assert isinstance(message.content, str)
    assert message.content.startswith(
        "Human: Hi\nAssistant: Hello!\nHuman: Price?\nAssistant: Ten euros.\n\n"
    )
    assert INSTRUCTION in message.content
    assert message.content.rstrip().endswith("questions:")


def test_history_is_cut_from_the_oldest_end() -> None:
    text = history_text([("old " * 50, "a"), ("new", "b")], max_chars=40)
    assert len(text) == 40
    assert text.endswith("Human: new\nAssistant: b")


@pytest.mark.parametrize("name", ["customer", "a.b-c_d", "名前", "x" * 255])
def test_name_filter_accepts(name: str) -> None:
    assert check_name_filter(name) == name


@pytest.mark.parametrize("name", ["", "x" * 256, "a b", "a'b", "a;", "a--b", "/*", "XP_x", "Sp_x", "a%"])
def test_name_filter_refuses(name: str) -> None:
    with pytest.raises(InvalidParam):
        check_name_filter(name)
