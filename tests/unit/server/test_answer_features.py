"""Pure parts of annotations, moderation and auto-play: scores, keyword checks, sentences."""

from __future__ import annotations

from typing import Any

import pytest

from difychat.server.domain.apps import AppConfig
from difychat.server.domain.features import SensitiveWordAvoidance
from difychat.server.services import moderation
from difychat.server.services.annotation_match import best_match, cosine, lexical_score, normalise
from difychat.server.services.speech_stream import split_sentences


def test_lexical_score_ignores_case_punctuation_and_word_order() -> None:
    assert lexical_score("What are your opening hours?", "what ARE your opening hours") == pytest.approx(1.0)
    assert lexical_score("opening hours: what are they", "what are the opening hours") > 0.7
    assert lexical_score("Tell me a joke", "What are your opening hours?") < 0.4


def test_lexical_score_tolerates_typos_and_handles_cjk() -> None:
    assert lexical_score("pasword reset", "password reset") > 0.9
    assert lexical_score("营业时间是什么", "营业时间是什么？") == pytest.approx(1.0)
    assert lexical_score("营业时间", "退款政策") == 0.0


def test_lexical_score_of_nothing_is_zero() -> None:
    assert lexical_score("???", "!!!") == 0.0
    assert lexical_score("", "hello") == 0.0
    assert normalise("  Héllo,   WORLD! ") == "héllo world"


def test_cosine() -> None:
    assert cosine([1.0, 0.0], [1.0, 0.0]) == pytest.approx(1.0)
    assert cosine([1.0, 0.0], [0.0, 2.0]) == 0.0
    assert cosine([1.0], [1.0, 0.0]) == 0.0
    assert cosine([0.0, 0.0], [1.0, 1.0]) == 0.0


def test_best_match_honours_the_threshold_and_prefers_the_first_of_equals() -> None:
    assert best_match([("a", 0.5), ("b", 0.79)], 0.8) is None
    found = best_match([("a", 0.9), ("b", 0.95), ("c", 0.95)], 0.9)
    assert found is not None and (found.item, found.score) == ("b", 0.95)
    exact = best_match([("a", 0.8)], 0.8)
    assert exact is not None and exact.item == "a"


def moderated(**config: Any) -> SensitiveWordAvoidance:
    app = AppConfig.model_validate(
        {"name": "m", "sensitive_word_avoidance": {"enabled": True, "type": "keywords", "config": config}}
    )
    return app.sensitive_word_avoidance


def test_keywords_split_on_newlines_and_commas() -> None:
    rule = moderated(keywords="one\n two ,three,,\n")
    assert rule.keywords() == ["one", "two", "three"]


def test_input_and_output_checks() -> None:
    rule = moderated(
        keywords="Secret",
        inputs_config={"enabled": True, "preset_response": "no input"},
        outputs_config={"enabled": True, "preset_response": "no output"},
    )
    assert moderation.check_inputs(rule, {}, "a SECRET thing") == "no input"
    assert moderation.check_inputs(rule, {"topic": "secrets"}, "hello") == "no input"
    assert moderation.check_inputs(rule, {"count": 3, "flag": True}, "hello") is None
    assert moderation.check_output(rule, "the secret is out") == "no output"
    assert moderation.check_output(rule, "nothing to see") is None


def test_disabled_directions_and_other_types_do_nothing() -> None:
    only_output = moderated(keywords="x", outputs_config={"enabled": True, "preset_response": "out"})
    assert moderation.check_inputs(only_output, {}, "x") is None
    assert moderation.check_output(only_output, "x") == "out"
    api_type = AppConfig.model_validate(
        {
            "name": "m",
            "sensitive_word_avoidance": {"enabled": True, "type": "api", "config": {"keywords": "x"}},
        }
    )
    assert moderation.check_output(api_type.sensitive_word_avoidance, "x") is None
    assert not AppConfig(name="plain").sensitive_word_avoidance.active


def test_feature_blocks_read_from_the_apps_file() -> None:
    app = AppConfig.model_validate(
        {
            "name": "v",
            "speech_to_text": True,
            "text_to_speech": {"enabled": True, "voice": "nova", "autoPlay": "enabled", "model": "tts-x"},
            "embedding_model": "emb-1",
        }
    )
    assert app.speech_to_text.enabled
    tts = app.text_to_speech
    assert (tts.auto_play, tts.voice, tts.model) == (True, "nova", "tts-x")
    embedding = app.embedding_model
    assert embedding is not None and embedding.name == "emb-1"
    assert AppConfig(name="plain").embedding_model is None
    assert not AppConfig(name="plain").text_to_speech.auto_play


@pytest.mark.parametrize(
    ("buffer", "sentences", "rest"),
    [
        ("Hello there. How are", ["Hello there."], " How are"),
        ("Pi is 3.14 and", [], "Pi is 3.14 and"),
        ("Done!", [], "Done!"),
        ("Done! ", ["Done!"], " "),
        ("你好。世界！再", ["你好。", "世界！"], "再"),
        ("line one\nline two", ["line one"], "line two"),
    ],
)
def test_split_sentences(buffer: str, sentences: list[str], rest: str) -> None:
    assert split_sentences(buffer) == (sentences, rest)
