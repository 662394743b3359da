"""Cleaning and splitting a document's text into segments, by a dataset's process rule.

Lengths are counted in characters, as Dify 1.12 does although its field is called ``max_tokens``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Tried in order: the first one found in a piece that is too long splits it.
RECURSIVE_SEPARATORS: tuple[str, ...] = ("\n\n", "。", ". ", " ", "")
DEFAULT_MAX_LENGTH = 500
DEFAULT_OVERLAP = 50
MIN_MAX_LENGTH = 50
MAX_MAX_LENGTH = 4000

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe]")
_MANY_NEWLINES = re.compile(r"\n{3,}")
_MANY_SPACES = re.compile("[\t\f\r \u00a0\u1680\u180e\u2000-\u200a\u202f\u205f\u3000]{2,}")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_MARKDOWN_LINK = re.compile(r"!?\[[^\]\n]*\]\([^)\s]*(?:\s+\"[^\"]*\")?\)")
# A link ends before trailing punctuation ("see https://a.b/c, then").
_URL = re.compile(r"https?://[^\s<>\"'`]*[^\s<>\"'`.,;:!?)\]]")


@dataclass(frozen=True, slots=True)
class ChunkRules:
    """What a process rule says about cleaning and splitting."""

    remove_extra_spaces: bool = True
    remove_urls_emails: bool = False
    # None: split recursively only (automatic mode); else split on it first (custom mode).
    separator: str | None = None
    max_length: int = DEFAULT_MAX_LENGTH
    overlap: int = DEFAULT_OVERLAP


def clean(text: str, rules: ChunkRules) -> str:
    text = text.replace("<|", "<").replace("|>", ">")
    text = _CONTROL.sub("", text)
    # Links go first, so that the spaces around a removed one collapse with the others.
    if rules.remove_urls_emails:
        text = _remove_urls_and_emails(text)
    if rules.remove_extra_spaces:
        text = _MANY_NEWLINES.sub("\n\n", text)
        text = _MANY_SPACES.sub(" ", text)
    return text


def _remove_urls_and_emails(text: str) -> str:
    """Drop e-mail addresses and bare links; Markdown links and images stay as they are."""
    kept: list[str] = []

    def hold(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return f"\x00{len(kept) - 1}\x00"

    text = _MARKDOWN_LINK.sub(hold, text)
    text = _EMAIL.sub("", text)
    text = _URL.sub("", text)
    return re.sub("\x00(\\d+)\x00", lambda m: kept[int(m.group(1))], text)


def split(text: str, rules: ChunkRules) -> list[str]:
    """The segments' texts, in order, stripped, none empty."""
    if rules.separator is None:
        pieces = _recursive(text, RECURSIVE_SEPARATORS, rules.max_length, rules.overlap)
    else:
        pieces = []
        for part in text.split(rules.separator) if rules.separator else [text]:
            if len(part) > rules.max_length:
                pieces.extend(_recursive(part, RECURSIVE_SEPARATORS, rules.max_length, rules.overlap))
            else:
                pieces.append(part)
    return [p for p in (piece.strip() for piece in pieces) if p]


def _recursive(text: str, separators: Sequence[str], size: int, overlap: int) -> list[str]:
    separator: str = separators[-1]
    rest: tuple[str, ...] = ()
    for index, candidate in enumerate(separators):
        if candidate == "" or candidate in text:
            separator, rest = candidate, tuple(separators[index + 1 :])
            break
    parts = list(text) if separator == "" else text.split(separator)
    chunks: list[str] = []
    short: list[str] = []
    for part in parts:
        if len(part) <= size:
            short.append(part)
            continue
        if short:
            chunks.extend(_merge(short, separator, size, overlap))
            short = []
        if rest:
            chunks.extend(_recursive(part, rest, size, overlap))
        else:
            chunks.extend(part[i : i + size] for i in range(0, len(part), size))
    if short:
        chunks.extend(_merge(short, separator, size, overlap))
    return chunks


def _merge(parts: Sequence[str], separator: str, size: int, overlap: int) -> list[str]:
    """Join short parts into chunks of at most ``size``; each chunk starts with up to ``overlap``
    characters' worth of the previous chunk's last parts."""
    chunks: list[str] = []
    window: list[str] = []
    length = 0  # of separator.join(window)
    gap = len(separator)
    for part in parts:
        added = len(part) + (gap if window else 0)
        if window and length + added > size:
            chunks.append(separator.join(window))
            while window and (length > overlap or length + len(part) + (gap if window else 0) > size):
                length -= len(window[0]) + (gap if len(window) > 1 else 0)
                window.pop(0)
            added = len(part) + (gap if window else 0)
        window.append(part)
        length += added
    if window:
        chunks.append(separator.join(window))
    return chunks


def count_tokens(text: str) -> int:
    """A model-free estimate: CJK characters count one each, other words about 4/3 each."""
    cjk = sum(1 for ch in text if "\u3000" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af")
    words = len(re.findall(r"[A-Za-z0-9_]+|[^\sA-Za-z0-9_\u3000-\u9fff\uac00-\ud7af]", text))
    return cjk + (words * 4 + 2) // 3
