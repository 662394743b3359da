"""Tool calls assembled from a stream's pieces.

Both wire formats stream a call as numbered pieces: the first carries the call's id and
name, the rest carry fragments of its JSON arguments; several calls may interleave
(parallel calls). The assembler keeps one buffer per number and hands the calls back
whole, in number order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from difychat.server.providers.base import ToolCall


@dataclass(slots=True)
class _Pending:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAssembler:
    def __init__(self) -> None:
        self._pending: dict[int, _Pending] = {}

    def __bool__(self) -> bool:
        return bool(self._pending)

    def add(self, index: int, *, id: str | None = None, name: str | None = None, arguments: str = "") -> None:
        pending = self._pending.get(index)
        if pending is None:
            pending = self._pending[index] = _Pending()
        if id and not pending.id:
            pending.id = id
        if name and not pending.name:
            pending.name = name
        if arguments:
            pending.arguments.append(arguments)

    def calls(self) -> tuple[ToolCall, ...]:
        """The calls so far, each with an id (one is made up when the model sent none)."""
        return tuple(
            ToolCall(
                id=pending.id or f"call_{uuid.uuid4().hex[:24]}",
                name=pending.name,
                arguments="".join(pending.arguments),
            )
            for _, pending in sorted(self._pending.items())
        )
