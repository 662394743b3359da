"""Servers that start on one database at the same time (several hosts, or `difychat serve` beside
`difychat db upgrade`) migrate it one after the other: real processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import DATABASES, PostgresFactory, clean_env, difychat_command, make_database


@pytest.mark.parametrize("kind", DATABASES)
def test_servers_migrating_one_database_at_once_take_turns(
    kind: str, tmp_path: Path, postgres_factory: PostgresFactory | None
) -> None:
    database = make_database(kind, postgres_factory)
    data_dir = tmp_path / "shared"
    env = clean_env(**database.env())
    # What several hosts (or `difychat serve` next to `difychat db upgrade`) do at start-up.
    upgrades = [
        subprocess.Popen(
            [*difychat_command(), "db", "upgrade", "--data-dir", str(data_dir)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [(p.wait(120), *p.communicate()) for p in upgrades]
    assert [code for code, _, _ in results] == [0, 0, 0], results
    assert all("is up to date" in out for _, out, _ in results), results
