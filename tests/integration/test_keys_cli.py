"""``difychat keys create --label --expires --rpm --concurrency`` and ``difychat keys list``, run against a
live server's database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from difychat.cli import main
from difychat.server.services import keys
from difychat.server.store.common import utcnow
from tests.integration.conftest import PLAIN_KEY, RunningServer
from tests.integration.helpers import database, poll

pytestmark = pytest.mark.anyio


class Cli:
    def __init__(
        self, server: RunningServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ):
        self._server = server
        self._capsys = capsys
        monkeypatch.setenv("DIFYCHAT_DATABASE_URL", server.settings.resolved_database_url())
        monkeypatch.setenv("COLUMNS", "250")  # no wrapped table cells

    async def __call__(self, *args: str) -> tuple[int, str, str]:
        """``difychat keys ARGS`` in a thread of its own (it runs its own event loop)."""
        settings = self._server.settings
        argv = ["keys", *args, "--config", str(settings.config), "--data-dir", str(settings.data_dir)]
        self._capsys.readouterr()
        code = await asyncio.to_thread(main, argv)
        out = self._capsys.readouterr()
        return code, out.out, out.err


@pytest.fixture
def cli(server: RunningServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(server, monkeypatch, capsys)


def row_of(listing: str, text: str) -> str:
    rows = [line for line in listing.splitlines() if text in line]
    assert len(rows) == 1, listing
    return rows[0]


async def test_a_key_created_with_a_label_an_expiry_and_limits_is_listed_with_them(
    server: RunningServer, cli: Cli
) -> None:
    code, out, err = await cli(
        "create",
        "--app",
        "Plain",
        "--label",
        "nightly-batch",
        "--expires",
        "30d",
        "--rpm",
        "60",
        "--concurrency",
        "4",
    )
    assert code == 0, err
    key = out.strip()
    assert key.startswith("app-")

    listed_before = (await cli("list"))[1]
    row = row_of(listed_before, "nightly-batch")
    expires = utcnow() + timedelta(days=30)
    assert f"{expires:%Y-%m-%d}" in row or f"{expires - timedelta(minutes=1):%Y-%m-%d}" in row
    assert " never " in row and " 60 " in row and " 4 " in row and "expired" not in row
    assert "default" in row_of(listed_before, PLAIN_KEY[:6])  # an apps-file key: no limits of its own

    async with server.client(key) as client:
        assert (await client.get("/parameters")).status_code == 200

    async def used() -> bool:
        return " never " not in row_of((await cli("list", "--app", "Plain"))[1], "nightly-batch")

    assert await poll(used, timeout=10)
    code, listed, _ = await cli("list", "--app", "Plain")
    assert code == 0
    assert f"{utcnow():%Y-%m-%d}" in row_of(listed, "nightly-batch").split("app-")[1]  # last used: today
    for full in (key, PLAIN_KEY):
        assert full not in listed_before and full not in listed, "keys list shows hints only"


async def test_an_expired_key_is_marked_as_such(server: RunningServer, cli: Cli) -> None:
    async with database(server) as engine:
        await keys.create_key(engine, "Plain", label="old", expires_at=utcnow() - timedelta(days=1))
    assert "(expired)" in row_of((await cli("list"))[1], " old ")


@pytest.mark.parametrize(
    ("expires", "message"),
    [
        ("2020-01-31", "is not in the future"),
        ("soon", "cannot read the expiry"),
        ("0d", "is not in the future"),
    ],
)
async def test_an_expiry_that_is_unreadable_or_past_is_refused(cli: Cli, expires: str, message: str) -> None:
    code, out, err = await cli("create", "--app", "Plain", "--expires", expires)
    assert code == 1 and message in err and not out.strip()


async def test_a_negative_limit_is_a_usage_error(cli: Cli) -> None:
    for option in ("--rpm", "--concurrency"):
        with pytest.raises(SystemExit) as exited:
            await cli("create", "--app", "Plain", option, "-1")
        assert exited.value.code == 2
