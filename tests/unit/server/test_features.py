from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from difychat.server.domain import variables
from difychat.server.domain.apps import AppConfig


def config(**values: Any) -> AppConfig:
    return AppConfig.model_validate({"name": "t", **values})


def test_unconfigured_features_render_dify_defaults() -> None:
    c = config()
    assert c.suggested_questions_after_answer.wire() == {"enabled": False}
    assert c.speech_to_text.wire() == {"enabled": False}
    assert c.text_to_speech.wire() == {"enabled": False}
    assert c.retriever_resource.wire() == {"enabled": True}
    assert c.annotation_reply.wire() == {"enabled": False}
    assert c.more_like_this.wire() == {"enabled": False}
    assert c.sensitive_word_avoidance.wire() == {"enabled": False, "type": "", "configs": []}
    assert c.file_upload.wire() == {
        "image": {
            "enabled": False,
            "number_limits": 3,
            "detail": "high",
            "transfer_methods": ["remote_url", "local_file"],
        }
    }
    assert not c.file_upload.is_enabled


def test_bare_booleans_become_feature_objects() -> None:
    c = config(speech_to_text=True, more_like_this=False)
    assert c.speech_to_text.wire() == {"enabled": True}
    assert c.more_like_this.wire() == {"enabled": False}


def test_configured_dify_keys_are_shown_in_order_and_difychat_settings_never() -> None:
    c = config(
        text_to_speech={
            "model": "tts-hd",
            "autoPlay": "enabled",
            "api_key": "sk-tts-secret",
            "base_url": "http://speech.internal/v1",
            "enabled": True,
            "voice": "alloy",
            "language": "en-US",
        },
        annotation_reply={
            "enabled": True,
            "id": "a1",
            "score_threshold": 0.9,
            "embedding_model": {"embedding_provider_name": "openai", "embedding_model_name": "e3"},
        },
        file_upload={"enabled": True, "allowed_file_types": ["image", "document"], "number_limits": 5},
    )
    assert list(c.text_to_speech.wire().items()) == [
        ("enabled", True),
        ("voice", "alloy"),
        ("language", "en-US"),
        ("autoPlay", "enabled"),
    ]
    assert c.text_to_speech.model == "tts-hd"
    assert "sk-tts-secret" not in repr(c) and "sk-tts-secret" not in str(c.snapshot())
    assert list(c.annotation_reply.wire()) == ["id", "enabled", "score_threshold", "embedding_model"]
    upload = c.file_upload.wire()
    assert list(upload) == ["image", "enabled", "allowed_file_types", "number_limits"]
    assert c.file_upload.is_enabled and c.file_upload.number_limits == 5


def test_wire_shape_survives_the_config_snapshot_round_trip() -> None:
    c = config(text_to_speech={"enabled": True, "voice": "alloy"})
    again = AppConfig.model_validate({**c.snapshot(), "name": "t"})
    assert again.text_to_speech.wire() == {"enabled": True, "voice": "alloy"}
    assert again.annotation_reply.wire() == {"enabled": False}


@pytest.mark.parametrize(
    "values",
    [
        {"speech_to_text": {"enabled": "yes"}},
        {"site": {"icon_type": "link"}},
        {"text_to_speech": {"autoPlay": "sometimes"}},
        {"file_upload": {"allowed_file_types": ["spreadsheet"]}},
        {"conversation_variables": [{"name": "n", "value_type": "number", "value": "one"}]},
        {"conversation_variables": [{"name": "n"}, {"name": "n"}]},
        {"conversation_variables": [{"name": "n", "value_type": "decimal"}]},
    ],
)
def test_bad_feature_config_is_refused(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        config(**values)


def test_conversation_variables_get_typed_defaults() -> None:
    c = config(
        conversation_variables=[
            {"name": "a", "value_type": "string"},
            {"name": "b", "value_type": "integer"},
            {"name": "c", "value_type": "boolean"},
            {"name": "d", "value_type": "object"},
            {"name": "e", "value_type": "array[string]", "value": ["x"]},
        ]
    )
    assert [v.value for v in c.conversation_variables] == ["", 0, False, {}, ["x"]]


@pytest.mark.parametrize(
    ("value_type", "value", "ok"),
    [
        ("string", "x", True),
        ("string", 1, False),
        ("secret", "s", True),
        ("number", 1, True),
        ("number", 1.5, True),
        ("number", True, False),
        ("number", "1", False),
        ("integer", 2.5, True),
        ("boolean", False, True),
        ("boolean", 0, False),
        ("object", {"a": 1}, True),
        ("object", [], False),
        ("array[string]", ["a", "b"], True),
        ("array[string]", ["a", 1], False),
        ("array[number]", [1, 2.5], True),
        ("array[number]", [True], False),
        ("array[boolean]", [True], True),
        ("array[object]", [{}], True),
        ("array[any]", [1, "a", None], True),
        ("array[any]", "a", False),
        ("string", None, False),
    ],
)
def test_type_checks(value_type: str, value: Any, ok: bool) -> None:
    assert variables.matches(value_type, value) is ok


def test_mismatch_message_and_wire_text() -> None:
    assert (
        variables.mismatch_message("age", "integer", "ten")
        == "Type mismatch: variable 'age' expects number, but got string type"
    )
    assert variables.mismatch_message("tags", "array[string]", {"a": 1}).endswith("but got object type")
    assert variables.to_text(True) == "True"
    assert variables.to_text({"a": 1}) == "{'a': 1}"
    assert variables.to_text(["x", 2]) == "['x', 2]"
    assert variables.to_text(1.5) == "1.5"
    assert variables.wire_type("float") == "number"
