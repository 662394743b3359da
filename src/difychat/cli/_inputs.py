"""The app's input form in ``difychat chat``: each value checked as the server will check it, before
anything is sent, so that a wrong one can be typed again rather than fail the first message.

The form comes from ``GET /parameters`` (``user_input_form``): a list of one-key mappings, the key
being the field's type (``text-input``, ``paragraph``, ``select``, ``number``, ``checkbox``, ...).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Fields typed into a terminal; files and external data tools are not asked for.
_TYPED = ("text-input", "paragraph", "select", "number", "checkbox")
_YES = ("y", "yes", "true", "1", "on")
_NO = ("n", "no", "false", "0", "off")


class InvalidValue(ValueError):
    """A value the app's form refuses; the message says what it takes."""


@dataclass(frozen=True, slots=True)
class FormInput:
    kind: str
    variable: str
    label: str
    required: bool = False
    options: tuple[str, ...] = ()
    max_length: int | None = None

    def prompt(self) -> str:
        """What to ask with, saying what the answer may be."""
        if self.kind == "select" and self.options:
            return f"{self.label} [1-{len(self.options)}]: "
        if self.kind == "checkbox":
            return f"{self.label} [y/n]: "
        if self.kind == "number":
            return f"{self.label} (a number): "
        return f"{self.label}: "

    def choices(self) -> list[str]:
        """A select's options, numbered as they can be picked."""
        return [f"  {index}) {option}" for index, option in enumerate(self.options, 1)]

    def parse(self, text: str) -> Any:
        """The value to send for ``text``; None for an optional field left empty.

        Example::

            company = FormInput("select", "company", "Company", True, ("Acme", "Globex"))
            company.parse("2")       # "Globex"
            company.parse("acme")    # "Acme"
            company.parse("Initech") # InvalidValue: choose 1-2, or one of: Acme, Globex
        """
        value = text if self.kind in ("text-input", "paragraph") else text.strip()
        if not value.strip():
            if self.required:
                raise InvalidValue(f"{self.label} is required")
            return None
        if self.kind == "select":
            return self._option(value)
        if self.kind == "number":
            return _number(self.label, value)
        if self.kind == "checkbox":
            lowered = value.lower()
            if lowered in _YES or lowered in _NO:
                return lowered in _YES
            raise InvalidValue(f"{self.label}: answer y or n")
        if self.max_length is not None and len(value) > self.max_length:
            raise InvalidValue(f"{self.label} takes at most {self.max_length} characters, not {len(value)}")
        return value

    def _option(self, value: str) -> str:
        if not self.options:  # a select without options: the server takes nothing, say what was typed
            return value
        if value.isdigit() and 1 <= int(value) <= len(self.options):
            return self.options[int(value) - 1]
        if value in self.options:
            return value
        folded = [option for option in self.options if option.casefold() == value.casefold()]
        if len(folded) == 1:
            return folded[0]
        raise InvalidValue(
            f"{self.label}: choose 1-{len(self.options)}, or one of: {', '.join(self.options)}"
        )


def _number(label: str, text: str) -> int | float:
    try:
        number: int | float = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            raise InvalidValue(f"{label} must be a number, not {text!r}") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise InvalidValue(f"{label} must be a finite number, not {text!r}")
    return number


def form_inputs(user_input_form: Sequence[Any]) -> list[FormInput]:
    """The fields of ``/parameters``' ``user_input_form`` that can be typed, in form order."""
    fields: list[FormInput] = []
    for item in user_input_form:
        if not isinstance(item, dict):
            continue
        for kind, spec in item.items():
            if kind not in _TYPED or not isinstance(spec, dict):
                continue
            variable = spec.get("variable")
            if not isinstance(variable, str) or not variable:
                continue
            options = spec.get("options")
            max_length = spec.get("max_length")
            fields.append(
                FormInput(
                    kind=kind,
                    variable=variable,
                    label=str(spec.get("label") or variable),
                    required=bool(spec.get("required")),
                    options=tuple(str(o) for o in options) if isinstance(options, list) else (),
                    max_length=max_length if isinstance(max_length, int) and max_length > 0 else None,
                )
            )
    return fields


def form_variables(user_input_form: Sequence[Any]) -> set[str]:
    """Every variable the form declares, of any type (files and external data tools too)."""
    return {
        spec["variable"]
        for item in user_input_form
        if isinstance(item, dict)
        for spec in item.values()
        if isinstance(spec, dict) and isinstance(spec.get("variable"), str)
    }
