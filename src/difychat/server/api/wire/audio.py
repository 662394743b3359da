"""Speech to text (``POST /audio-to-text``); text to speech answers with audio bytes, not JSON."""

from __future__ import annotations

from typing import Any

from typing_extensions import TypedDict


class Transcript(TypedDict):
    text: str


def transcript(text: str) -> dict[str, Any]:
    return {"text": text}
