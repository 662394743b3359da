"""What a new user meets first, as real processes: the first-run panel and its key, commands that only
read, and a port that is taken."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pexpect
import pytest

from tests.e2e.conftest import (
    Launcher,
    clean_env,
    difychat_command,
    free_port,
    make_database,
    run_cli,
)
from tests.e2e.helpers import wait_for

if sys.platform == "win32":  # pragma: no cover
    pytest.skip("pexpect needs a POSIX pseudo-terminal", allow_module_level=True)

KEY = re.compile(r"stored hashed\): (app-[A-Za-z0-9_-]+)")
TIMEOUT = 20


def _shown_key(output: str) -> str | None:
    found = KEY.search(output)
    return found.group(1) if found else None


def test_read_only_commands_create_nothing_and_the_panel_waits_for_a_key_to_be_shown(
    launcher: Launcher, tmp_path: Path
) -> None:
    data_dir = tmp_path / "new"
    env = clean_env()
    common = ["--data-dir", str(data_dir)]
    listed = run_cli("keys", "list", *common, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "No keys: there is no database at" in listed.stderr and "`difychat serve`" in listed.stderr
    datasets = run_cli("datasets", "list", *common, env=env)
    assert datasets.returncode == 0, datasets.stderr
    assert not data_dir.exists(), "a read-only command made the data directory"

    # A server started without `difychat serve` (its own uvicorn) makes the demo app but cannot show a
    # key: none is stored, and the next `difychat serve` shows one.
    port = free_port()
    log = tmp_path / "uvicorn.log"
    with open(log, "wb") as out:
        plain = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "difychat.server.app:create_app_from_env", "--factory",
             "--host", "127.0.0.1", "--port", str(port)],
            env=clean_env(DIFYCHAT_DATA_DIR=str(data_dir)), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        with httpx.Client(trust_env=False, timeout=2) as probe:

            def healthy() -> bool:
                try:
                    return probe.get(f"http://127.0.0.1:{port}/health").status_code == 200
                except httpx.TransportError:
                    return plain.poll() is not None

            assert wait_for(healthy, timeout=30) and plain.poll() is None, log.read_text()
    finally:
        plain.terminate()
        plain.wait(15)
    assert "has no key yet" in log.read_text()
    assert _shown_key(log.read_text()) is None

    first = launcher.new(make_database("sqlite", None), data_dir=data_dir, config=False)
    output = first.output()
    assert "None of its keys was shown yet: here is a new one" in output, output
    key = _shown_key(output)
    assert key is not None, output
    # The panel's terminal chat line, pasted as it is, talks to the demo app.
    line = re.search(r"^(difychat chat --base-url (\S+) --api-key (\S+))$", output, re.M)
    assert line is not None, output
    assert line.group(2) == first.v1 and line.group(3) == key
    pasted: list[str] = line.group(1).split()
    command, *args = [*difychat_command(), *pasted[1:], "--plain", "--user", "me"]
    chat = pexpect.spawn(command, args, env=first.env(), encoding="utf-8", timeout=TIMEOUT)
    try:
        chat.expect("== Demo ==")
        chat.expect("you> ")
        chat.sendline("Anyone home?")
        chat.expect(r"bot> No model is configured.*You said: Anyone home\?")
        chat.expect("you> ")
        chat.sendeof()
        chat.expect(pexpect.EOF)
    finally:
        chat.close(force=True)

    # Once shown, it is never shown again, and keys list reads what there is.
    assert first.stop() == 0, first.output()
    again = launcher.new(make_database("sqlite", None), data_dir=data_dir, config=False)
    assert "first run" not in again.output() and _shown_key(again.output()) is None
    listed = run_cli("keys", "list", *common, env=env)
    assert listed.returncode == 0 and "Demo" in listed.stdout and "first run" in listed.stdout, listed


def test_a_taken_port_stops_serve_before_anything_is_shown(tmp_path: Path) -> None:
    data_dir = tmp_path / "never"
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        command = [*difychat_command(), "serve", "--port", str(port), "--data-dir", str(data_dir)]
        result = subprocess.run(
            command, env=clean_env(), capture_output=True, text=True, timeout=60, check=False
        )
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "--port N (or DIFYCHAT_PORT=N)" in result.stderr
    assert "first run" not in result.stdout and "curl" not in result.stdout
    assert not data_dir.exists(), "nothing is made for a server that cannot start"
