"""Cleaning and splitting by process rules, and the rules' checks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from difychat.server.documents.chunking import ChunkRules, clean, split
from difychat.server.errors import InvalidParam
from difychat.server.services.knowledge.rules import chunk_rules, parse_process_rule


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("ab c.\n。")), max_size=3000),
    size=st.integers(min_value=50, max_value=400),
    overlap=st.integers(min_value=0, max_value=49),
    custom=st.booleans(),
)
def test_chunks_never_pass_the_length_and_keep_every_word(
    text: str, size: int, overlap: int, custom: bool
) -> None:
    rules = ChunkRules(separator="\n" if custom else None, max_length=size, overlap=overlap)
    chunks = split(text, rules)
    assert all(0 < len(c) <= size for c in chunks)
    joined = "".join(chunks)
    for word in text.split():
        for piece in word.split("。"):
            assert piece.strip(".") in joined or len(piece) > size


def test_automatic_splitting_prefers_paragraphs_then_sentences() -> None:
    paragraphs = ["First paragraph. " * 10, "Second paragraph. " * 10]
    chunks = split("\n\n".join(paragraphs), ChunkRules(max_length=200, overlap=0))
    assert chunks == [p.strip() for p in paragraphs]
    long = split("One sentence here. " * 40, ChunkRules(max_length=100, overlap=30))
    assert all(len(c) <= 100 for c in long) and len(long) > 5
    assert long[1].startswith("One sentence here")  # overlapping whole sentences


def test_custom_rules_split_on_the_separator_first() -> None:
    rules = chunk_rules(
        "custom",
        parse_process_rule(
            {
                "mode": "custom",
                "rules": {
                    "pre_processing_rules": [{"id": "remove_urls_emails", "enabled": True}],
                    "segmentation": {"separator": "\\n", "max_tokens": 50},
                },
            }
        ).rules,
    )
    assert rules.separator == "\n" and not rules.remove_extra_spaces
    assert split(clean("a https://x.io b\nc me@x.io", rules), rules) == ["a  b", "c"]


def test_cleaning() -> None:
    rules = ChunkRules(remove_extra_spaces=True, remove_urls_emails=True)
    text = "x<|y|>\x00\ufffe  z\n\n\n\nsee https://a.b/c, [doc](https://d.e) ![i](https://f.g/h.png) a@b.co"
    assert clean(text, rules) == "x<y> z\n\nsee , [doc](https://d.e) ![i](https://f.g/h.png) "


def _custom(segmentation: dict[str, object], pre: list[dict[str, object]] | None = None) -> dict[str, object]:
    return {"mode": "custom", "rules": {"pre_processing_rules": pre or [], "segmentation": segmentation}}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            _custom({"separator": "\n", "max_tokens": 4001}),
            "Custom segment length should be between 50 and 4000.",
        ),
        (
            _custom({"separator": "\n", "max_tokens": 100}, [{"id": "nope", "enabled": True}]),
            "Process rule pre_processing_rules id is invalid",
        ),
        (
            _custom({"separator": "\n", "max_tokens": 100, "chunk_overlap": 100}),
            "Process rule segmentation chunk_overlap must be smaller than max_tokens",
        ),
    ],
)
def test_rule_refusals(rule: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParam) as refused:
        parse_process_rule(rule)
    assert refused.value.message == message


def test_full_document_parent_needs_no_segmentation() -> None:
    found = parse_process_rule(
        {"mode": "hierarchical", "rules": {"pre_processing_rules": [], "parent_mode": "full-doc"}}
    )
    assert found.rules == {"pre_processing_rules": [], "parent_mode": "full-doc"}
