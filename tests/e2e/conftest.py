"""The real ``difychat serve`` process, on SQLite and on PostgreSQL, against the fake model upstream.

Everything here goes through the command line and the network: the server runs as a
subprocess, is configured by an apps YAML file and a data directory, and is reached over
loopback HTTP. Only the model endpoint is fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml

from tests.conftest import missing_service, tls_context
from tests.databases import POSTGRES_ADMIN_URL, postgres_available, sqlalchemy_url
from tests.fakes.upstream import FakeUpstream
from tests.integration.conftest import PLAIN_KEY, apps_file

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0

# Environment variables of the host that would change what the server under test does.
_SCRUBBED_PREFIXES = ("DIFYCHAT_", "OPENAI_")
_SCRUBBED = {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"}


def difychat_command() -> list[str]:
    """The installed ``difychat`` entry point next to this interpreter, else ``python -m difychat.cli``."""
    script = Path(sys.executable).with_name("difychat")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "difychat.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED and not k.startswith(_SCRUBBED_PREFIXES)}
    env.update(
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
        COLUMNS="200",  # rich: no wrapping of the printed key
        TERM="dumb",
    )
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run one ``difychat`` command to completion."""
    return subprocess.run(
        [*difychat_command(), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


# --- databases -----------------------------------------------------------------------------------


@dataclass
class Database:
    """Where a server keeps its state: the SQLite file in its data dir, or a PostgreSQL database."""

    kind: str
    url: str | None  # None: SQLite in the data dir (the server's default)

    def env(self) -> dict[str, str]:
        return {"DIFYCHAT_DATABASE_URL": self.url} if self.url else {}


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class PostgresFactory:
    """Empty PostgreSQL databases: ``difychat`` migrates them itself."""

    def __init__(self) -> None:
        self.prefix = f"difychat_e2e_{os.getpid()}"
        self.created: list[str] = []

    def create(self) -> str:
        name = f"{self.prefix}_{len(self.created)}"
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return sqlalchemy_url(name)

    def drop_all(self) -> None:
        for name in self.created:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_factory() -> Iterator[PostgresFactory | None]:
    if not asyncio.run(postgres_available()):
        yield None
        return
    factory = PostgresFactory()
    yield factory
    factory.drop_all()


def make_database(kind: str, factory: PostgresFactory | None) -> Database:
    if kind == "sqlite":
        return Database("sqlite", None)
    if factory is None:
        missing_service(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL.rsplit('@', 1)[-1]}")
    assert factory is not None
    return Database("postgres", factory.create())


DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


# --- the server process --------------------------------------------------------------------------


STARTED = "Application startup complete"


@dataclass
class ServerProcess:
    """One ``difychat serve`` process (with its workers, if any)."""

    port: int
    data_dir: Path
    config: Path | None
    database: Database
    workers: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: Any = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def v1(self) -> str:
        return f"{self.base_url}/v1"

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(**self.database.env(), **extra)

    def cli_args(self) -> list[str]:
        """The ``--config``/``--data-dir`` options that select this server's apps and state."""
        args = ["--data-dir", str(self.data_dir)]
        if self.config is not None:
            args += ["--config", str(self.config)]
        return args

    def client(self, key: str | None = PLAIN_KEY, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("verify", tls_context())
        return httpx.Client(base_url=self.v1, headers=headers, trust_env=False, **kwargs)

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def start(self, env_extra: dict[str, str] | None = None) -> ServerProcess:
        command = [
            *difychat_command(),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            *self.cli_args(),
        ]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        earlier = self.output().count(STARTED)
        self.process = subprocess.Popen(
            command,
            env=self.env(**(env_extra or {})),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(trust_env=False, timeout=2, verify=tls_context()) as probe:
            while True:
                code = self.process.poll()
                if code is not None:
                    self.stop()
                    raise RuntimeError(f"difychat serve exited with {code} during start-up:\n{self.output()}")
                try:
                    # Another process may have taken the port first: only our own started server counts,
                    # and only once every worker has started (the first one answers /health alone).
                    if (
                        probe.get(f"{self.base_url}/health").status_code == 200
                        and self.process.poll() is None
                        and self.output().count(STARTED) - earlier >= self.workers
                    ):
                        return self
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    message = f"difychat serve did not answer /health in {START_TIMEOUT} s"
                    raise RuntimeError(f"{message}:\n{self.output()}")
                time.sleep(0.02)

    def stop(self) -> int | None:
        """SIGINT (a graceful shutdown), then SIGKILL for the whole process group."""
        process, self.process = self.process, None
        code = None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    # Its own session: this reaches the workers too, and nothing else.
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait(5)
            code = process.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return code


@pytest.fixture(scope="session", autouse=True)
def _interruptible_children() -> Iterator[None]:
    """The programs these tests start get Ctrl-C (SIGINT) as from a terminal, even when this run was
    started with SIGINT ignored (a background job of a non-interactive shell): an ignored signal is
    inherited by every child process, and ``difychat chat`` would never see the Ctrl-C a test types."""
    if signal.getsignal(signal.SIGINT) != signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


SERVERS = pytest.StashKey[list[ServerProcess]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing test's report carries the output of every server process it used."""
    report = yield
    if report.failed:
        servers: list[ServerProcess] = item.stash.get(SERVERS, [])
        for index, server in enumerate(servers):
            report.sections.append((f"difychat serve #{index} (port {server.port}) output", server.output()))
    return report


def write_apps(
    path: Path, upstream: FakeUpstream, edit: Callable[[dict[str, Any]], None] | None = None
) -> Path:
    document = apps_file(upstream)
    if edit is not None:
        edit(document)
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


class Launcher:
    """Creates server processes for one test (or module) and always stops them."""

    def __init__(self, root: Path, upstream: FakeUpstream, registry: list[ServerProcess]) -> None:
        self.root = root
        self.upstream = upstream
        self.servers = registry
        self._count = 0

    def new(
        self,
        database: Database,
        *,
        workers: int = 1,
        data_dir: Path | None = None,
        config: Path | None | bool = True,
        env: dict[str, str] | None = None,
    ) -> ServerProcess:
        self._count += 1
        if data_dir is None:
            data_dir = self.root / f"data{self._count}"
        if config is True:
            config = write_apps(self.root / f"apps{self._count}.yaml", self.upstream)
        server = ServerProcess(
            port=free_port(),
            data_dir=data_dir,
            config=config or None,
            database=database,
            workers=workers,
            log_path=self.root / f"serve{self._count}.log",
        )
        self.servers.append(server)
        return server.start(env)

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def launcher(request: pytest.FixtureRequest, tmp_path: Path, upstream: FakeUpstream) -> Iterator[Launcher]:
    servers = request.node.stash.setdefault(SERVERS, [])
    launcher = Launcher(tmp_path, upstream, servers)
    try:
        yield launcher
    finally:
        launcher.stop_all()


def _module_server(
    request: pytest.FixtureRequest,
    factory: Any,
    upstream: FakeUpstream,
    kind: str,
    postgres: PostgresFactory | None,
    workers: int = 1,
) -> Iterator[ServerProcess]:
    database = make_database(kind, postgres)
    root = factory.mktemp(f"serve-{kind}-{workers}w")
    launcher = Launcher(root, upstream, [])
    try:
        yield launcher.new(database, workers=workers)
    finally:
        launcher.stop_all()


@pytest.fixture(scope="module", params=DATABASES)
def served(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    upstream_server: FakeUpstream,
    postgres_factory: PostgresFactory | None,
) -> Iterator[ServerProcess]:
    """One ``difychat serve`` (one worker) per module and database, with the standard apps file."""
    yield from _module_server(request, tmp_path_factory, upstream_server, request.param, postgres_factory)


@pytest.fixture(scope="module")
def served_sqlite(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    upstream_server: FakeUpstream,
) -> Iterator[ServerProcess]:
    yield from _module_server(request, tmp_path_factory, upstream_server, "sqlite", None)


@pytest.fixture(scope="module", params=DATABASES)
def served_two_workers(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    upstream_server: FakeUpstream,
    postgres_factory: PostgresFactory | None,
) -> Iterator[ServerProcess]:
    """``difychat serve --workers 2``: stops must travel between the worker processes."""
    yield from _module_server(
        request, tmp_path_factory, upstream_server, request.param, postgres_factory, workers=2
    )


@pytest.fixture(autouse=True)
def _report_module_servers(request: pytest.FixtureRequest, upstream: FakeUpstream) -> None:
    """Every test starts with the default upstream behaviour; the module servers it uses
    show their output when it fails."""
    servers = request.node.stash.setdefault(SERVERS, [])
    for name in ("served", "served_sqlite", "served_two_workers"):
        if name in request.fixturenames:
            server = request.getfixturevalue(name)
            servers.append(server)
