"""The README's example apps file, read from the README itself: it loads, and its prompt only uses
variables its form declares."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from difychat.server.settings import ConfigFileError, load_apps_file

README = Path(__file__).parents[3] / "README.md"
_FENCED_YAML = re.compile(r"^```yaml\n(.*?)^```$", re.M | re.S)
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def readme_apps_file(tmp_path: Path) -> Path:
    """The README's one complete apps file (the YAML block that starts with ``# apps.yaml``)."""
    blocks = [
        b for b in _FENCED_YAML.findall(README.read_text(encoding="utf-8")) if b.startswith("# apps.yaml")
    ]
    assert len(blocks) == 1, "the README shows one complete apps file, starting with '# apps.yaml'"
    path = tmp_path / "apps.yaml"
    path.write_text(blocks[0], encoding="utf-8")
    return path


def test_the_readme_apps_file_loads_and_declares_every_variable_it_uses(tmp_path: Path) -> None:
    [app] = load_apps_file(readme_apps_file(tmp_path), {"OPENAI_API_KEY": "sk-readme"})
    assert app.model.api_key is not None and app.model.api_key.get_secret_value() == "sk-readme"
    declared = {item.field.variable for item in app.form_variables()}
    used = set(_VARIABLE.findall(app.pre_prompt or "")) | set(_VARIABLE.findall(app.opening_statement or ""))
    assert used, "the example shows a variable"
    assert used <= declared, f"used but not in user_input_form: {sorted(used - declared)}"


def test_without_the_key_it_names_the_variable_and_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError) as refused:
        load_apps_file(readme_apps_file(tmp_path), {})
    message = str(refused.value)
    assert "OPENAI_API_KEY is not set" in message and "${OPENAI_API_KEY:-default}" in message
    # The README says how to set it, and how to make it optional.
    text = README.read_text(encoding="utf-8")
    assert "export OPENAI_API_KEY=" in text and "`${VAR:-}`" in text
