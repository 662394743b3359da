"""``difychat apps import`` and ``difychat apps export`` on files (in process; no server, no network)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from difychat.cli import main
from difychat.server.settings import load_apps_file
from tests.unit.server.dsl_helpers import FIXTURES

APPS = """\
# the team's apps
apps:
  # kept as it is
  - name: Support
    model: {provider: echo, name: echo}
    api_keys: ["${SUPPORT_KEY}"]

datasets:
  - name: handbook
"""


@pytest.fixture(autouse=True)
def _no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SUPPORT_KEY", "DIFYCHAT_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def test_import_into_an_apps_file_keeps_the_rest_and_prints_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apps = tmp_path / "apps.yaml"
    apps.write_text(APPS, encoding="utf-8")
    code = main(["apps", "import", str(FIXTURES / "chat_with_form.yml"), "--into", str(apps)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith(f'Imported "Trail Guide" (chat app, DSL 0.3.0) into {apps}.\n')
    assert "  - set OPENAI_API_KEY\n" in out and "Could not be mapped" not in out
    text = apps.read_text(encoding="utf-8")
    assert text.startswith(APPS.split("\ndatasets:")[0]) and text.endswith("datasets:\n  - name: handbook\n")
    configs = load_apps_file(apps, {"SUPPORT_KEY": "app-support-1234", "OPENAI_API_KEY": "sk-test"})
    assert [c.name for c in configs] == ["Support", "Trail Guide"]

    # The same app again is refused by name; under another name it is added.
    assert main(["apps", "import", str(FIXTURES / "chat_with_form.yml"), "--into", str(apps)]) == 1
    assert 'already has an app "Trail Guide"' in capsys.readouterr().err
    assert (
        main(["apps", "import", str(FIXTURES / "chat_with_form.yml"), "--into", str(apps), "--name", "T2"])
        == 0
    )
    assert [a["name"] for a in yaml.safe_load(apps.read_text())["apps"]] == ["Support", "Trail Guide", "T2"]


def test_a_refused_import_lists_every_problem_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "new.yaml"
    assert main(["apps", "import", str(FIXTURES / "workflow_app.yml"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: cannot import {FIXTURES / 'workflow_app.yml'}:\n  - this file is an advanced-chat"
    )
    assert not out.exists()
    broken = tmp_path / "broken.yml"
    broken.write_text("version: 2.0.0\napp: {mode: chat}\n", encoding="utf-8")
    assert main(["apps", "import", str(broken)]) == 1
    assert capsys.readouterr().err.splitlines()[1:] == [
        "  - DSL version 2.0.0 is newer than difychat reads (0.1.0 to 0.7.x)",
        "  - Missing model_config for chat/agent-chat/completion app",
    ]


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    existing = tmp_path / "apps.yaml"
    existing.write_text(APPS, encoding="utf-8")
    source = str(FIXTURES / "chat_with_form.yml")
    assert main(["apps", "import", source, "--out", str(existing)]) == 2
    assert main(["apps", "import", source, "--dataset", "no-equals"]) == 2
    assert main(["apps", "import", str(tmp_path / "missing.yml")]) == 2
    assert main(["apps", "export", "Nope", "--config", str(existing)]) == 1
    assert main(["apps", "export", "Support"]) == 2
    err = capsys.readouterr().err
    assert "add the app to it with --into" in err and "--dataset takes OLD=NEW" in err
    assert 'there is no app "Nope"' in err and "give --config or set DIFYCHAT_CONFIG" in err


def test_without_a_destination_the_entry_goes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apps", "import", str(FIXTURES / "unknown_provider_and_tool.yml")]) == 0
    out, err = capsys.readouterr()
    assert yaml.safe_load(out)["apps"][0]["name"] == "City Trip Planner"
    assert "Could not be mapped:" in err and "Datasets to bind" in err


def test_export_then_import_through_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apps = tmp_path / "apps.yaml"
    assert main(["apps", "import", str(FIXTURES / "agent_time_webscraper.yml"), "--out", str(apps)]) == 0
    with apps.open("a", encoding="utf-8") as fh:  # credentials the export must not need nor write
        fh.write('- name: Support\n  model: {provider: echo, name: echo}\n  api_keys: ["${SUPPORT_KEY}"]\n')
    exported = tmp_path / "venue.yml"
    assert main(["apps", "export", "Venue Helper", "--config", str(apps), "--out", str(exported)]) == 0
    out = capsys.readouterr().out
    assert f"as DSL 0.5.0 to {exported}" in out and "  - langgenius/openai\n" in out
    assert "OPENAI_API_KEY" not in exported.read_text(encoding="utf-8")
    assert main(["apps", "export", "Support", "--config", str(apps)]) == 0
    assert "api_keys: holds credentials" in capsys.readouterr().err

    again = tmp_path / "again.yaml"
    assert main(["apps", "import", str(exported), "--out", str(again)]) == 0
    first, second = (yaml.safe_load(p.read_text(encoding="utf-8"))["apps"][0] for p in (apps, again))
    assert first == second
