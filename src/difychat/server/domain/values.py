"""Small text rules that every layer shares: UUID ids, visible text and the words that mean true or
false."""

from __future__ import annotations

import re
import unicodedata

# The contract's words for a boolean given as text (checkbox inputs, ``as_attachment``),
# compared after trimming and lower-casing.
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


# A UUID as Dify's routes match one (Werkzeug's ``uuid`` converter): 8-4-4-4-12 hex digits, either
# case. The other spellings Python's ``uuid.UUID`` reads (braces, ``urn:uuid:``, no hyphens) are not
# ids here, in a path, a body or a query string alike.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def parse_uuid(value: object) -> str | None:
    """The canonical (lowercase) form of a hyphenated UUID string; None for anything else."""
    if not isinstance(value, str) or _UUID.fullmatch(value) is None:
        return None
    return value.lower()


def has_visible_text(text: str) -> bool:
    """Whether ``text`` has a character to show: anything but whitespace, separators and Unicode's
    "other" characters (controls, format characters, surrogates, private use, unassigned)."""
    return any(not ch.isspace() and unicodedata.category(ch)[0] not in "CZ" for ch in text)


def parse_bool(text: str) -> bool | None:
    """True or False for the contract's words; None for any other text."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None
