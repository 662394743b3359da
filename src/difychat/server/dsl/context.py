"""What the parts of an import share: the report being written and the problems found so far.

A problem refuses the import (the file says something that cannot be read); a note in the
report does not (the file says something difychat has no place for, and the operator is told).
Problems are collected, not raised, so one run lists them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from difychat.server.dsl.report import ImportReport

MC = "model_config"
_UNKNOWN = re.compile(r'^unknown key "([^"]+)"')


@dataclass(slots=True)
class Context:
    mode: str
    report: ImportReport = field(default_factory=ImportReport)
    problems: list[str] = field(default_factory=list)

    @property
    def completion(self) -> bool:
        return self.mode == "completion"

    def problem(self, where: str, text: str) -> None:
        self.problems.append(f"{where}: {text}")

    def invalid(self, where: str, exc: ValidationError) -> None:
        """Each error of ``exc`` as a problem at its path, without the value (it may be a secret)."""
        for error in exc.errors(include_input=False, include_url=False):
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
            self.problem(f"{where}{path}", error["msg"])

    def unknown(self, messages: Any) -> None:
        """Keys the schema does not have (``config_keys.unknown_keys`` messages) as notes."""
        for message in messages:
            match = _UNKNOWN.match(message)
            where = match.group(1) if match else ""
            self.report.drop(where, "not a setting difychat has")


def blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}
