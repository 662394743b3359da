"""``difychat web url``: each app's chat page address, one app's bare URL, its embed snippet."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from difychat.cli import main
from difychat.server.services.web_sites import derived_code

BASE = "https://chat.example.com"


def _write(tmp_path: Path) -> Path:
    model = {"provider": "echo", "name": "echo"}
    apps = [
        {"name": "Support", "model": model, "site": {"code": "SupportCode1"}},
        {"name": "Derived", "model": model},
        {"name": "Closed", "model": model, "site": {"enabled": False}},
    ]
    path = tmp_path / "apps.yaml"
    path.write_text(yaml.safe_dump({"apps": apps}))
    return path


def test_each_apps_page_and_one_apps_snippet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _write(tmp_path)
    common = ["--config", str(config), "--data-dir", str(tmp_path / "data"), "--base-url", BASE + "/"]
    assert main(["web", "url", *common]) == 0
    secret = (tmp_path / "data" / "secret_key").read_text().strip()
    assert capsys.readouterr().out.splitlines() == [
        f"Support: {BASE}/chat/SupportCode1",
        f"Derived: {BASE}/chat/{derived_code(secret, 'Derived')}",
        "Closed: the site is switched off (site.enabled: false)",
    ]
    assert main(["web", "url", "--app", "Support", *common]) == 0
    assert capsys.readouterr().out == f"{BASE}/chat/SupportCode1\n"
    assert main(["web", "url", "--app", "Support", "--embed", *common]) == 0
    snippet = capsys.readouterr().out
    assert 'token: "SupportCode1", baseUrl: "https://chat.example.com"' in snippet
    assert '<script src="https://chat.example.com/embed.min.js" id="SupportCode1" defer></script>' in snippet
    assert main(["web", "url", "--app", "Nobody", *common]) == 1
    assert "There is no app" in capsys.readouterr().err
    assert main(["web", "url", "--embed", *common]) == 2
