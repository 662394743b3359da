"""How closely a chat query matches an annotation's question.

Two scorers, both in [0, 1]: cosine similarity of embedding vectors when the
app has an embedding model, and a lexical score that needs no model at all.
The lexical score is the larger of the cosine of the two normalised token sets
(word order and repetition do not matter) and difflib's ratio of the
normalised strings (small typos do not matter much). CJK characters count as
one token each, since those scripts do not separate words with spaces.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")

_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]|[^\W_]+")


def normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_TOKEN.findall(folded))


def _compact(text: str) -> str:
    # Without separators, so that two unrelated CJK strings share no spaces to match on.
    return "".join(_TOKEN.findall(unicodedata.normalize("NFKC", text).casefold()))


def tokens(text: str) -> set[str]:
    return set(_TOKEN.findall(unicodedata.normalize("NFKC", text).casefold()))


def lexical_score(query: str, question: str) -> float:
    a, b = tokens(query), tokens(question)
    if not a or not b:
        return 0.0
    token_cosine = len(a & b) / math.sqrt(len(a) * len(b))
    ratio = difflib.SequenceMatcher(None, _compact(query), _compact(question), autojunk=False).ratio()
    return max(token_cosine, ratio)


def cosine(u: Sequence[float], v: Sequence[float]) -> float:
    if len(u) != len(v) or not u:
        return 0.0
    dot = sum(x * y for x, y in zip(u, v, strict=True))
    norm = math.sqrt(sum(x * x for x in u)) * math.sqrt(sum(y * y for y in v))
    return 0.0 if norm == 0 else dot / norm


@dataclass(frozen=True, slots=True)
class Match(Generic[Item]):
    item: Item
    score: float


def best_match(scored: Sequence[tuple[Item, float]], threshold: float) -> Match[Item] | None:
    """The highest score at or above ``threshold``; the first one listed wins a tie."""
    best: Match[Item] | None = None
    for item, score in scored:
        if score >= threshold and (best is None or score > best.score):
            best = Match(item, score)
    return best
