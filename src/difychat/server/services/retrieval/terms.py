"""Search terms: the one tokenizer used when a segment is indexed and when a query is searched.

Words are lowercased, NFKC-normalised runs of letters and digits; a few very common English
words are dropped. Chinese, Japanese and Korean runs have no spaces between words, so each run
becomes its overlapping character pairs ("知识库" -> "知识", "识库"), and a lone character
stands for itself. A query written the same way finds the same pairs whatever the word
boundaries, without a dictionary: the index stays exact and needs no extra package.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

# A run of CJK ideographs, kana or Hangul, or a run of other letters and digits.
_CJK = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # ideographs
    "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"  # hangul
    "\U00020000-\U0002fa1f"
)
_TOKEN = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")
# Terms longer than this are not words people search for (hashes, base64 runs).
MAX_TERM_CHARS = 40
STOP_WORDS = frozenset(
    (
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "so",
        "than",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "do",
        "does",
        "did",
        "can",
    )
)


def terms(text: str) -> Iterator[str]:
    """The search terms of ``text``, in order (repeats kept: they count for ranking)."""
    normal = unicodedata.normalize("NFKC", text).lower()
    for match in _TOKEN.finditer(normal):
        cjk, word = match.groups()
        if word is not None:
            if word not in STOP_WORDS and len(word) <= MAX_TERM_CHARS:
                yield word
        elif len(cjk) == 1:
            yield cjk
        else:
            for i in range(len(cjk) - 1):
                yield cjk[i : i + 2]


def query_terms(text: str, limit: int = 32) -> list[str]:
    """The distinct terms of a query, first seen first, at most ``limit``."""
    seen: dict[str, None] = {}
    for term in terms(text):
        seen.setdefault(term, None)
        if len(seen) >= limit:
            break
    return list(seen)
