"""Smoke test of the knowledge benchmark: ``python -m benchmarks.knowledge`` at a few hundred chunks
on SQLite. It checks that every search is timed and the report is written; never a timing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("embeddings", ["random", "words"])
def test_the_knowledge_benchmark_times_every_search_and_writes_its_report(
    tmp_path: Path, embeddings: str
) -> None:
    out = tmp_path / "knowledge.md"
    args = [
        "--chunks",
        "300",
        "--queries",
        "5",
        "--db",
        "sqlite",
        "--embeddings",
        embeddings,
        "--out",
        str(out),
    ]
    subprocess.run([sys.executable, "-m", "benchmarks.knowledge", *args], cwd=REPO, check=True, timeout=300)
    report = out.read_text()
    for label in (
        "keyword (economy)",
        "full text",
        "vector, exact",
        "vector, approximate",
        "hybrid (weighted 0.7 / 0.3), exact",
        "hybrid (weighted 0.7 / 0.3), approximate",
    ):
        assert f"| {label} |" in report
    # below the size where codes are used the approximate scan is the exact one
    (memory,) = [line for line in report.splitlines() if line.startswith("| sqlite | " + embeddings)]
    assert "| 1.000 | 1.000 |" in memory
