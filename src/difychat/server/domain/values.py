"""Small text rules that every layer shares: UUID ids and the words that mean true or false."""

from __future__ import annotations

import uuid

# The contract's words for a boolean given as text (checkbox inputs, ``as_attachment``),
# compared after trimming and lower-casing.
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


def parse_uuid(value: object) -> str | None:
    """The canonical (lowercase, hyphenated) form of a UUID string; None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def parse_bool(text: str) -> bool | None:
    """True or False for the contract's words; None for any other text."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None
