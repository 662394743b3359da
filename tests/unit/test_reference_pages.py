"""The reference pages made from the code, ``docs/cli.md`` (the ``difychat`` parsers) and
``docs/apps-file.md`` (the apps file's schema), are what their generators make now."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from difychat.cli import reference

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_docs_cli_md_is_the_reference_the_parsers_make_now() -> None:
    made = reference.markdown()
    committed = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert committed == made, f"docs/cli.md is out of date: run {reference.REGENERATE}"


def test_the_cli_reference_names_every_command_and_option() -> None:
    made = reference.markdown()
    for heading in (
        "## difychat serve",
        "### difychat keys create",
        "### difychat datasets add",
        "## difychat chat",
    ):
        assert f"\n{heading}\n" in made, heading
    assert "| `--port PORT` | `5001` | `DIFYCHAT_PORT` |" in made
    assert "| `--rpm N` |  | `DIFYCHAT_KEY_RPM` |" in made


def test_the_cli_reference_shows_built_in_defaults_whatever_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clean = reference.markdown()
    monkeypatch.setenv("DIFYCHAT_PORT", "6001")
    monkeypatch.setenv("DIFYCHAT_PUBLIC_URL", "https://chat.example.com")
    assert reference.markdown() == clean
    assert os.environ["DIFYCHAT_PORT"] == "6001", "the variables are back once the page is made"


def test_the_cli_reference_module_prints_the_page(capsys: pytest.CaptureFixture[str]) -> None:
    reference.main([])
    assert capsys.readouterr().out == reference.markdown()
