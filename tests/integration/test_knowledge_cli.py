"""``difychat datasets ...`` and ``difychat keys create --knowledge`` on a real SQLite database."""

from __future__ import annotations

from pathlib import Path

import pytest

from difychat.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_datasets_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    folder = tmp_path / "docs"
    (folder / "nested").mkdir(parents=True)
    (folder / "a.md").write_text("# Alpha\n\nThe first document.")
    (folder / "nested" / "b.txt").write_text("The second document.")
    (folder / "ignored.bin").write_bytes(b"\x00\x01")
    (folder / "broken.pdf").write_bytes(b"not a pdf")

    code, out, _ = run(capsys, "datasets", "create", "Manual", *data)
    assert code == 0 and len(out.strip()) == 36
    assert run(capsys, "datasets", "create", "Manual", *data)[0] == 1

    code, out, _ = run(capsys, "datasets", "add", "Manual", str(folder), "--technique", "economy", *data)
    assert code == 1  # the broken PDF failed; the others were indexed
    assert "broken.pdf" in out and "not a readable PDF" in out
    code, out, _ = run(capsys, "datasets", "status", "Manual", *data)
    assert code == 0
    assert out.count("available") == 2 and "error" in out

    code, out, _ = run(capsys, "datasets", "retry", "Manual", *data)
    assert (code, out.strip()) == (0, "1 document queued again")

    code, key, _ = run(
        capsys, "keys", "create", "--knowledge", "--dataset", "Manual", "--label", "ops", *data
    )
    assert code == 0 and key.startswith("dataset-") and len(key.strip()) == 32
    assert run(capsys, "keys", "create", "--knowledge", "--dataset", "Nope", *data)[0] == 1
    assert run(capsys, "keys", "create", "--dataset", "Manual", *data)[0] == 1
    code, out, _ = run(capsys, "keys", "list", *data)
    assert "knowledge keys" in out and "Manual" in out
    code, out, _ = run(capsys, "keys", "revoke", key.strip(), *data)
    assert (code, out.strip()) == (0, "revoked")

    code, out, _ = run(capsys, "datasets", "list", *data)
    assert "Manual" in out
    assert run(capsys, "datasets", "remove", "Manual", "--document", "a.md", *data)[0] == 0
    assert run(capsys, "datasets", "remove", "Manual", *data)[0] == 0
    assert run(capsys, "datasets", "status", "Manual", *data)[0] == 1


def test_datasets_declared_in_the_apps_file_exist_after_start_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "apps.yaml"
    config.write_text(
        "apps: []\n"
        "datasets:\n"
        "  - name: Handbook\n"
        "    description: The staff handbook\n"
        "    indexing_technique: economy\n"
        "  - name: FAQ\n"
    )
    data = ["--data-dir", str(tmp_path / "data"), "--config", str(config)]
    # A read-only command starts nothing: no database yet, so no datasets either.
    code, out, _ = run(capsys, "datasets", "list", *data)
    assert code == 0 and "Handbook" not in out
    # A command that starts the store creates the declared datasets first.
    assert run(capsys, "datasets", "create", "Notes", *data)[0] == 0
    code, out, _ = run(capsys, "datasets", "list", *data)
    assert code == 0 and "Handbook" in out and "FAQ" in out and "economy" in out and "Notes" in out
    assert run(capsys, "datasets", "create", "More", *data)[0] == 0  # a second start leaves them as they are
    code, out, _ = run(capsys, "datasets", "list", *data)
    assert out.count("Handbook") == 1
    config.write_text("datasets:\n  - name: Bad\n    colour: red\n")
    with pytest.raises(Exception, match="colour"):
        main(["datasets", "create", "Other", *data])
