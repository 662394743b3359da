"""Keyword moderation (``sensitive_word_avoidance`` of ``type: keywords``).

On the way in, a keyword in the query or in any input answers with the
preset response instead of calling the model; on the way out, a keyword in
the finished answer replaces the whole answer with the preset response.
Keywords match case-insensitively as substrings, as Dify's keyword check does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from difychat.server.domain.features import SensitiveWordAvoidance


def _hits(keywords: list[str], texts: Iterable[str]) -> bool:
    lowered = [k.casefold() for k in keywords]
    return any(k in text.casefold() for text in texts for k in lowered)


def _input_texts(inputs: Mapping[str, Any], query: str) -> list[str]:
    return [
        query,
        *(str(v) for v in inputs.values() if isinstance(v, str | int | float) and not isinstance(v, bool)),
    ]


def check_inputs(settings: SensitiveWordAvoidance, inputs: Mapping[str, Any], query: str) -> str | None:
    """The preset response when the inputs or query are flagged, else None."""
    rule = settings.inputs()
    if not settings.active or not rule.enabled:
        return None
    return rule.preset_response if _hits(settings.keywords(), _input_texts(inputs, query)) else None


def check_output(settings: SensitiveWordAvoidance, answer: str) -> str | None:
    """The preset response that replaces a flagged answer, else None."""
    rule = settings.outputs()
    if not settings.active or not rule.enabled or not answer:
        return None
    return rule.preset_response if _hits(settings.keywords(), [answer]) else None
