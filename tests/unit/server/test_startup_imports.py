"""What ``difychat serve`` loads before it answers: the modules that only some requests need (document
parsers, the HTML reader, migrations, the client's HTTP stack, the terminal UI) load on first use, not
at start-up, so that an idle server stays small."""

from __future__ import annotations

import json
import subprocess
import sys

# Loaded on first use only; each is several megabytes once imported.
LOADED_ON_USE = (
    "httpx",  # the client (difychat.DifyChat), not the server
    "rich",  # the first-run panel and `difychat` tables
    "pygments",
    "alembic",  # migrations run in a short-lived child of `difychat serve`
    "mako",
    "bs4",  # the webscraper tool's HTML reader
    "numpy",  # vector search, on its first use
    "pypdf",
    "docx",
    "openpyxl",
    "onnxruntime",
    "tokenizers",
    "mcp",
    "websockets",
)


def _loaded_after(code: str) -> set[str]:
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_the_server_modules_leave_what_requests_need_later_unloaded() -> None:
    loaded = _loaded_after(
        "from difychat.cli import build_parser\n"
        "build_parser()\n"
        "import difychat.cli.server_commands, uvicorn\n"
        "from difychat.server.app import bootstrap, create_app\n"
        "from difychat.server.settings import Settings\n"
        "create_app(Settings())\n"
    )
    assert "difychat" in loaded and "sqlalchemy" in loaded  # the probe did import the server
    assert not loaded & set(LOADED_ON_USE), sorted(loaded & set(LOADED_ON_USE))


def test_the_package_root_loads_the_client_on_first_use() -> None:
    assert "httpx" not in _loaded_after("import difychat")
    assert "httpx" in _loaded_after("import difychat\ndifychat.DifyChat")
