"""``docs/apps-file.md`` is the reference the apps file's schema makes now, and it covers the
schema: every block and key, secrets marked, descriptions taken from the code."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from difychat.server.domain import apps_reference
from difychat.server.domain.apps import AppConfig, FormField
from difychat.server.domain.datasets_file import DatasetDeclaration

REFERENCE = Path(__file__).resolve().parents[3] / "docs" / "apps-file.md"


def test_docs_apps_file_md_is_the_reference_the_schema_makes_now() -> None:
    made = apps_reference.markdown()
    committed = REFERENCE.read_text(encoding="utf-8")
    assert committed == made, f"docs/apps-file.md is out of date: run {apps_reference.REGENERATE}"


def _blocks(annotation: Any, seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    """Every model an annotation reaches, walked here independently of the generator."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation not in seen:
            seen.add(annotation)
            for info in annotation.model_fields.values():
                _blocks(info.annotation, seen)
        return seen
    for arg in typing.get_args(annotation):
        _blocks(arg, seen)
    return seen


def _section(made: str, path: str) -> str:
    start = made.index(f"\n## `{path}`\n")
    end = made.find("\n## ", start + 1)
    return made[start : end if end != -1 else None]


def test_every_block_and_key_has_its_row() -> None:
    made = apps_reference.markdown()
    sections = {section.model: section.path for section in apps_reference._sections()}
    expected = _blocks(AppConfig, set()) | {FormField, DatasetDeclaration}
    assert expected <= set(sections), sorted(m.__name__ for m in expected - set(sections))
    for model, path in sections.items():
        text = _section(made, path)
        for name in model.model_fields:
            assert f"\n| `{name}` |" in text, (path, name)


def test_secrets_are_marked_and_the_rules_of_the_file_are_said() -> None:
    made = apps_reference.markdown()
    assert "| `api_key` | *secret* string or `null` | `null` |" in _section(made, "apps[].model")
    assert "| `api_keys` | list of *secret* string | `[]` |" in _section(made, "apps[]")
    assert "| `env` | mapping of names to *secret* string | `{}` |" in _section(made, "apps[].mcp_servers[]")
    assert "Unknown keys are refused at start-up" in made
    assert "`${VAR}` and `${VAR:-default}`" in made


def test_descriptions_come_from_the_schema() -> None:
    made = apps_reference.markdown()
    # A comment above the field, a Field description, and a class docstring.
    assert "| `tools_ttl` | number, >= 0 | `300` | The tool list is fetched again after" in made
    assert "| The app's description, shown by /info and /site. |" in _section(made, "apps[]")
    assert "How much of the earlier conversation goes to the model on each turn." in made
    # Switches, and contract references left out.
    assert "A *switch*" in _section(made, "apps[].file_upload")
    assert "§" not in made


def test_the_module_prints_the_page(capsys: pytest.CaptureFixture[str]) -> None:
    apps_reference.main([])
    assert capsys.readouterr().out == apps_reference.markdown()
