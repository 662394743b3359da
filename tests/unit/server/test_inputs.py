from __future__ import annotations

from typing import Any

import pytest

from difychat.server.domain.apps import AppConfig
from difychat.server.errors import InvalidParam
from difychat.server.services.inputs import clean_inputs

FORM = AppConfig(
    name="t",
    user_input_form=[
        {"text-input": {"variable": "name", "required": False, "max_length": 5}},
        {"select": {"variable": "tone", "required": True, "options": ["formal", "casual"]}},
        {"number": {"variable": "age"}},
        {"checkbox": {"variable": "vip"}},
        {"paragraph": {"variable": "notes"}},
    ],
).form_variables()


def clean(**inputs: Any) -> dict[str, Any]:
    return clean_inputs(FORM, {"tone": "formal", **inputs})


def test_unknown_keys_are_dropped_and_missing_optionals_become_null() -> None:
    assert clean(extra="x") == {"name": None, "tone": "formal", "age": None, "vip": None, "notes": None}


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"tone": None}, "tone is required in input form"),
        ({"tone": "rude"}, "tone in input form must be one of the following: ['formal', 'casual']"),
        ({"name": 3}, "(type 'text-input') name in input form must be a string"),
        ({"notes": 3}, "(type 'paragraph') notes in input form must be a string"),
        ({"name": "abcdef"}, "name in input form must be less than 5 characters"),
        ({"age": "old"}, "age in input form must be a valid number"),
        ({"name": {"a": 1}}, "Invalid input type for ['name']"),
        ({"age": [1]}, "Invalid input type for ['age']"),
    ],
)
def test_each_rule_has_the_contract_message(inputs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParam) as caught:
        clean(**inputs)
    assert caught.value.message == message


def test_values_are_coerced_like_dify() -> None:
    cleaned = clean(name="abcde", age="3", vip="Yes")
    assert cleaned["name"] == "abcde" and cleaned["age"] == 3 and cleaned["vip"] is True
    assert clean(age="3.5")["age"] == 3.5
    assert clean(age=" ")["age"] is None
    assert clean(vip=0)["vip"] is False
    assert clean(vip="maybe")["vip"] == "maybe"
    assert clean(name="a\x00b")["name"] == "ab"


def test_an_empty_string_satisfies_required() -> None:
    form = AppConfig(name="t", user_input_form=[{"text-input": {"variable": "x", "required": True}}])
    assert clean_inputs(form.form_variables(), {"x": ""}) == {"x": ""}
