"""Process rules: the contract's checks, what is stored, and how a stored rule cleans and splits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from difychat.server.documents.chunking import (
    DEFAULT_MAX_LENGTH,
    DEFAULT_OVERLAP,
    MAX_MAX_LENGTH,
    MIN_MAX_LENGTH,
    ChunkRules,
)
from difychat.server.errors import InvalidParam

MODES = ("automatic", "custom", "hierarchical")
PRE_PROCESSING_IDS = ("remove_extra_spaces", "remove_urls_emails", "remove_stopwords")
SEGMENT_LENGTH_ERROR = f"Custom segment length should be between {MIN_MAX_LENGTH} and {MAX_MAX_LENGTH}."

AUTOMATIC_RULES: dict[str, Any] = {
    "pre_processing_rules": [
        {"id": "remove_extra_spaces", "enabled": True},
        {"id": "remove_urls_emails", "enabled": False},
    ],
    "segmentation": {"delimiter": "\n", "max_tokens": DEFAULT_MAX_LENGTH, "chunk_overlap": DEFAULT_OVERLAP},
}
# What GET document reports as the dataset's rule before the dataset has one (the console's default).
CONSOLE_DEFAULT: dict[str, Any] = {
    "mode": "custom",
    "rules": {
        "pre_processing_rules": [
            {"id": "remove_extra_spaces", "enabled": True},
            {"id": "remove_urls_emails", "enabled": False},
        ],
        "segmentation": {"delimiter": "\n", "max_tokens": 1024, "chunk_overlap": 50},
    },
}


@dataclass(frozen=True, slots=True)
class ProcessRule:
    mode: str
    # As stored; None for automatic (its rules are implied).
    rules: dict[str, Any] | None


def parse_process_rule(value: Any) -> ProcessRule:
    """A request's ``process_rule``, checked in the contract's order."""
    if not isinstance(value, dict):
        raise InvalidParam("Process rule mode is invalid")
    mode = value.get("mode")
    if mode not in MODES:
        raise InvalidParam("Process rule mode is invalid")
    if mode == "automatic":
        return ProcessRule("automatic", None)
    rules = value.get("rules")
    if not rules or not isinstance(rules, dict):
        raise InvalidParam("Process rule rules is required")
    pre = rules.get("pre_processing_rules")
    if pre is None or not isinstance(pre, list):
        raise InvalidParam("Process rule pre_processing_rules is required")
    cleaned_pre: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in pre:
        if not isinstance(item, dict) or item.get("id") not in PRE_PROCESSING_IDS:
            raise InvalidParam("Process rule pre_processing_rules id is invalid")
        if not isinstance(item.get("enabled"), bool):
            raise InvalidParam("Process rule pre_processing_rules enabled is invalid")
        if item["id"] not in seen:
            seen.add(item["id"])
            cleaned_pre.append({"id": item["id"], "enabled": item["enabled"]})
    stored: dict[str, Any] = {"pre_processing_rules": cleaned_pre}
    full_doc = mode == "hierarchical" and rules.get("parent_mode") == "full-doc"
    segmentation = rules.get("segmentation")
    if not full_doc:
        if segmentation is None or not isinstance(segmentation, dict):
            raise InvalidParam("Process rule segmentation is required")
        separator = segmentation.get("separator")
        if not separator or not isinstance(separator, str):
            raise InvalidParam("Process rule segmentation separator is required")
        max_tokens = segmentation.get("max_tokens")
        if max_tokens is None or isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
            raise InvalidParam("Process rule segmentation max_tokens is required")
        if not MIN_MAX_LENGTH <= max_tokens <= MAX_MAX_LENGTH:
            raise InvalidParam(SEGMENT_LENGTH_ERROR)
        overlap = segmentation.get("chunk_overlap", 0)
        if overlap is None:
            overlap = 0
        if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
            raise InvalidParam("Process rule segmentation chunk_overlap is invalid")
        if overlap >= max_tokens:
            raise InvalidParam("Process rule segmentation chunk_overlap must be smaller than max_tokens")
        stored["segmentation"] = {"separator": separator, "max_tokens": max_tokens, "chunk_overlap": overlap}
    if mode == "hierarchical":
        stored["parent_mode"] = "full-doc" if full_doc else "paragraph"
        sub = rules.get("subchunk_segmentation")
        if isinstance(sub, dict):
            stored["subchunk_segmentation"] = sub
    return ProcessRule(mode, stored)


def wire_rules(mode: str, rules: dict[str, Any] | None) -> dict[str, Any]:
    """The rules as GET shows them: automatic ones spelled out."""
    return AUTOMATIC_RULES if mode == "automatic" or rules is None else rules


def chunk_rules(mode: str | None, rules: dict[str, Any] | None) -> ChunkRules:
    """How a stored rule cleans and splits (no rule: automatic)."""
    if mode in (None, "automatic") or rules is None:
        return ChunkRules()
    enabled = {r["id"] for r in rules.get("pre_processing_rules", []) if r.get("enabled")}
    segmentation = rules.get("segmentation") or {}
    if mode == "hierarchical" and rules.get("parent_mode") == "full-doc":
        return ChunkRules(
            "remove_extra_spaces" in enabled, "remove_urls_emails" in enabled, "\x00", MAX_MAX_LENGTH, 0
        )
    separator = str(segmentation.get("separator", "\n")).replace("\\n", "\n")
    return ChunkRules(
        remove_extra_spaces="remove_extra_spaces" in enabled,
        remove_urls_emails="remove_urls_emails" in enabled,
        separator=separator,
        max_length=int(segmentation.get("max_tokens", DEFAULT_MAX_LENGTH)),
        overlap=int(segmentation.get("chunk_overlap", 0) or 0),
    )
