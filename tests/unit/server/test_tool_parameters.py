"""Tool parameters: what the model is offered, what the app fixes, what the tool is invoked with."""

from __future__ import annotations

import pytest

from difychat.server.tools.base import (
    ToolConfigError,
    ToolParameter,
    ToolParameterError,
    ToolSpec,
    builtin_labels,
    plain_labels,
)
from difychat.server.tools.builtin import BUILTINS, definition, short_id
from difychat.server.tools.parameters import arguments, form_values, model_schema

SPEC = ToolSpec(
    provider_type="builtin",
    provider_id="demo",
    name="demo",
    description="A demo tool.",
    parameters=(
        ToolParameter("query", required=True, description="what to look for"),
        ToolParameter("limit", type="number", default=5, description="how many"),
        ToolParameter("exact", type="boolean"),
        ToolParameter("mode", type="select", options=("fast", "deep"), description="how"),
        ToolParameter("tags", type="array", schema={"type": "array", "items": {"type": "string"}}),
        ToolParameter("api_key", type="secret-input", form="form", required=True),
        ToolParameter("region", type="select", form="form", default="eu", options=("eu", "us")),
        ToolParameter("attachment", type="file", form="llm"),
    ),
)


def test_the_model_sees_only_llm_parameters_with_json_types() -> None:
    assert model_schema(SPEC) == {
        "name": "demo",
        "description": "A demo tool.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "what to look for"},
                "limit": {"type": "number", "description": "how many"},
                "exact": {"type": "boolean", "description": ""},
                "mode": {"type": "string", "description": "how", "enum": ["fast", "deep"]},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["query"],
        },
    }


def test_current_time_offers_the_model_an_empty_object() -> None:
    time = definition("time")
    assert time is not None
    spec = time.spec("current_time")
    assert spec is not None
    assert model_schema(spec)["parameters"] == {"type": "object", "properties": {}, "required": []}
    webscraper = definition("langgenius/webscraper/webscraper")
    if webscraper is not None:
        scraper = webscraper.spec("webscraper")
        assert scraper is not None
        assert list(model_schema(scraper)["parameters"]["properties"]) == ["url"]


def test_form_values_take_defaults_and_refuse_what_cannot_run() -> None:
    assert form_values(SPEC, {"api_key": "k", "region": "", "query": "ignored"}) == {
        "api_key": "k",
        "region": "eu",
    }
    with pytest.raises(ToolConfigError, match="tool parameter api_key not found in tool config"):
        form_values(SPEC, {"region": "us"})
    with pytest.raises(ToolConfigError, match="region must be one of eu, us"):
        form_values(SPEC, {"api_key": "k", "region": "mars"})
    needs_file = ToolSpec("builtin", "x", "x", "", (ToolParameter("f", type="file", required=True),))
    with pytest.raises(ToolConfigError, match="file parameter"):
        form_values(needs_file, {})


def test_the_app_wins_over_the_model_and_values_are_cast() -> None:
    form = form_values(SPEC, {"api_key": "k"})
    merged = arguments(
        SPEC,
        form,
        {"query": 42, "limit": "7", "exact": "yes", "api_key": "stolen", "unknown": 1, "tags": '["a"]'},
    )
    assert merged == {
        "query": "42",
        "limit": 7,
        "exact": True,
        "tags": ["a"],
        "api_key": "k",
        "region": "eu",
    }
    assert arguments(SPEC, form, {"limit": "2.5"})["limit"] == 2.5


@pytest.mark.parametrize(
    ("given", "detail"),
    [
        ({"limit": "many"}, "limit must be a number"),
        ({"limit": "nan"}, "limit must be a finite number"),
        ({"exact": "perhaps"}, "exact must be true or false"),
        ({"mode": "slow"}, "mode must be one of fast, deep"),
        ({"tags": {"a": 1}}, "tags must be a JSON array"),
    ],
)
def test_a_value_that_cannot_be_cast_is_a_parameter_error(given: dict[str, object], detail: str) -> None:
    with pytest.raises(ToolParameterError) as caught:
        arguments(SPEC, {}, given)
    assert detail in str(caught.value)
    assert caught.value.observation().startswith("tool parameters validation error: ")
    assert caught.value.observation().endswith(", please check your tool parameters")


def test_labels_for_built_in_and_other_tools() -> None:
    assert builtin_labels("Current Time", zh_Hans="获取当前时间") == {
        "zh_Hans": "获取当前时间",
        "en_US": "Current Time",
        "pt_BR": "Current Time",
        "ja_JP": "Current Time",
    }
    assert plain_labels("listPets") == {"en_US": "listPets", "zh_Hans": "listPets"}


def test_every_built_in_has_both_ids_and_four_locale_labels() -> None:
    for provider_id, provider in BUILTINS.items():
        assert definition(f"langgenius/{provider_id}/{provider_id}") is provider
        assert short_id(f"langgenius/{provider_id}/{provider_id}") == provider_id
        for spec in provider.specs:
            assert list(spec.labels) == ["zh_Hans", "en_US", "pt_BR", "ja_JP"], spec.name
            assert spec.provider_type == "builtin" and spec.description
            model_schema(spec)  # every declared type has a JSON type
    assert definition("nope") is None
