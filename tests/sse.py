"""An independent, strict reader of the server's SSE framing, for tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Frame:
    raw: bytes
    data: dict[str, Any] | None  # None for the ping frame

    @property
    def event(self) -> str:
        return "ping" if self.data is None else str(self.data["event"])


def parse_frames(body: bytes) -> list[Frame]:
    """Split a complete body into frames, insisting on Dify's exact framing."""
    assert body.endswith(b"\n\n"), body[-50:]
    frames = []
    for raw in body[:-2].split(b"\n\n"):
        if raw == b"event: ping":
            frames.append(Frame(raw, None))
            continue
        assert raw.startswith(b"data: "), raw
        assert b"\n" not in raw, raw
        frames.append(Frame(raw, json.loads(raw[6:])))
    return frames
