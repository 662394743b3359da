"""Feature blocks and the input form of ``model_config``, fitted to difychat's schema.

A block is read with the schema's own model, so what it accepts is what the apps file accepts;
it is written back with only Dify's keys and only the values that differ from difychat's
defaults (a disabled feature is left out), so the same app always gives the same entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import ValidationError

from difychat.server.domain.apps import FORM_TYPES, FormField
from difychat.server.domain.config_keys import unknown_keys
from difychat.server.domain.features import (
    FileUpload,
    MoreLikeThis,
    RetrieverResource,
    Schema,
    SensitiveWordAvoidance,
    SpeechToText,
    SuggestedQuestionsAfterAnswer,
    TextToSpeech,
)
from difychat.server.dsl.context import MC, Context

# model_config key -> the block's model, in Dify's key order.
FEATURES: dict[str, type[Schema]] = {
    "suggested_questions_after_answer": SuggestedQuestionsAfterAnswer,
    "speech_to_text": SpeechToText,
    "text_to_speech": TextToSpeech,
    "retriever_resource": RetrieverResource,
    "more_like_this": MoreLikeThis,
    "sensitive_word_avoidance": SensitiveWordAvoidance,
    "file_upload": FileUpload,
}
_NO_CONVERSATION = "a completion app has no conversation"
# Form fields difychat shows as they are; external_data_tool fields need Dify's API extensions.
_FORM_TYPES = tuple(t for t in FORM_TYPES if t != "external_data_tool")


def features(ctx: Context, config: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, model in FEATURES.items():
        block = fit(ctx, model, config.get(key), f"{MC}.{key}")
        if block is None:
            continue
        if key == "suggested_questions_after_answer" and ctx.completion:
            ctx.report.drop(f"{MC}.{key}", _NO_CONVERSATION)
            continue
        if key == "sensitive_word_avoidance" and block.get("type") != "keywords":
            ctx.report.drop(
                f"{MC}.{key}",
                f"moderation of type {block.get('type')!r}: difychat runs keyword moderation only",
            )
            continue
        out[key] = block
    return out


def fit(ctx: Context, model: type[Schema], raw: Any, where: str) -> dict[str, Any] | None:
    """``raw`` read as ``model``: Dify's keys that differ from the defaults; None when nothing does
    (or the feature is off), or when it cannot be read (a problem is recorded)."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        raw = {"enabled": raw}
    if not isinstance(raw, dict):
        ctx.problem(where, "expected a mapping")
        return None
    wire: tuple[str, ...] = getattr(model, "_wire", tuple(model.model_fields))
    given = {}
    for key, value in raw.items():
        field = model.model_fields.get(key) if isinstance(key, str) else None
        if key not in wire:
            ctx.report.drop(f"{where}.{key}", "not a setting difychat has")
        elif not (value == "" and field is not None and field.default is None):
            given[key] = value
    ctx.unknown(unknown_keys(model, given, f"{where}."))
    try:
        block = model.model_validate(given)
    except ValidationError as exc:
        ctx.invalid(where, exc)
        return None
    if not _switched_on(block):
        return None
    default = model().model_dump(mode="json", exclude_none=True)
    dumped = block.model_dump(mode="json", exclude_none=True)
    return {key: dumped[key] for key in wire if key in dumped and dumped[key] != default.get(key)} or None


def _switched_on(block: Schema) -> bool:
    """Whether a block does anything: a feature that is off (and off by default) carries nothing."""
    if isinstance(block, FileUpload):
        return block.is_enabled
    enabled = getattr(block, "enabled", True)
    default = type(block).model_fields["enabled"].default if "enabled" in type(block).model_fields else True
    return bool(enabled) or bool(default)


def user_input_form(ctx: Context, raw: Any) -> list[dict[str, dict[str, Any]]] | None:
    """The form's fields, each as Dify wrote it less the keys difychat does not have."""
    where = f"{MC}.user_input_form"
    if raw is None:
        return None
    if not isinstance(raw, list):
        ctx.problem(where, "expected a list of fields")
        return None
    out = []
    for index, item in enumerate(raw):
        at = f"{where}[{index}]"
        if not isinstance(item, dict) or len(item) != 1:
            ctx.problem(at, "each field is a mapping with one key, its type (text-input, select, ...)")
            continue
        ((kind, body),) = item.items()
        if kind == "external_data_tool":
            ctx.report.drop(at, "an external data tool field: its value comes from a Dify API extension")
            continue
        if kind not in _FORM_TYPES:
            ctx.report.drop(at, f"a {kind} field: difychat's forms have {', '.join(_FORM_TYPES)} fields")
            continue
        if not isinstance(body, dict):
            ctx.problem(f"{at}.{kind}", "expected a mapping")
            continue
        kept = dict(_known(ctx, body, f"{at}.{kind}"))
        try:
            FormField.model_validate(kept)
        except ValidationError as exc:
            ctx.invalid(f"{at}.{kind}", exc)
            continue
        out.append({kind: kept})
    return out


def _known(ctx: Context, body: dict[str, Any], where: str) -> Iterator[tuple[str, Any]]:
    for key, value in body.items():
        if key in FormField.model_fields:
            yield key, value
        else:
            ctx.report.drop(f"{where}.{key}", "not a setting difychat has")
