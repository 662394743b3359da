"""Commands that only read (``keys list``, ``datasets list``) create, migrate and sync nothing, and say
plainly why there is nothing to show."""

from __future__ import annotations

from pathlib import Path

import pytest

from difychat.cli import main


@pytest.fixture(autouse=True)
def _no_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIFYCHAT_DATABASE_URL", raising=False)


def test_without_a_database_they_say_so_and_make_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "never"
    assert main(["keys", "list", "--data-dir", str(data_dir)]) == 0
    assert "No keys: there is no database at" in capsys.readouterr().err
    assert main(["datasets", "list", "--data-dir", str(data_dir)]) == 0
    assert "No datasets: there is no database at" in capsys.readouterr().err
    assert main(["datasets", "status", "Docs", "--data-dir", str(data_dir)]) == 1
    assert not data_dir.exists()


def test_a_database_they_cannot_read_is_an_error_that_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "difychat.db").write_bytes(b"not a database, " * 100)
    assert main(["keys", "list", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "error: cannot read the database at sqlite+aiosqlite:///" in err and "not a database" in err
    assert (tmp_path / "difychat.db").read_bytes() == b"not a database, " * 100
