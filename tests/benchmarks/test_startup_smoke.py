"""Smoke test of ``python -m benchmarks.startup``: one start on SQLite, results written and
well-formed. No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_one_start_on_sqlite_writes_the_results(tmp_path: Path) -> None:
    out = tmp_path / "results"
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.startup",
        "--runs",
        "1",
        "--db",
        "sqlite",
        "--idle",
        "0.2",
        "--no-compile",
        "--out",
        str(out),
        "--work-dir",
        str(tmp_path / "work"),
    ]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=110)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]

    result = json.loads((out / "startup.json").read_text())
    assert result["meta"]["machine"]["cores"] >= 1
    assert result["meta"]["loadavg_start"] and result["meta"]["command"].startswith(
        "python -m benchmarks.startup"
    )
    (summary,) = result["summary"]
    assert summary["database"] == "sqlite" and summary["runs"] == 1
    for key in ("startup_p50_ms", "startup_max_ms", "startup_cpu_p50_ms", "idle_rss_mb", "idle_pss_mb"):
        assert summary[key] > 0, key
    (run,) = result["runs"]["sqlite"]
    assert run["processes"] >= 1 and run["idle_rss_mb"] >= run["idle_pss_mb"] > 0

    md = (out / "startup.md").read_text()
    assert "| build | database | runs | start-up p50 ms |" in md
    assert "| this run | sqlite | 1 |" in md
    assert "Load average" in md
