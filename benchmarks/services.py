"""Starting and stopping the processes of a run: the fake upstream, the floor,
LiteLLM (the peer), difychat, and the PostgreSQL databases difychat uses.

Every process is started by the harness in its own session and is stopped by
its own process group id; nothing else is ever signalled.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import procstat

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / "benchmarks"
VENVS = BENCH_DIR / ".venvs"
API_KEY = "app-benchbenchbenchbench0001"
# The agent app (``agent-chat``, the built-in calculator): one tool round per turn.
AGENT_API_KEY = "app-benchagentbenchagent0001"
PG_URL_BASE = os.environ.get("DIFYCHAT_BENCH_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432")
PG_PREFIX = "difychat_bench_"
# Redis for the workers scenario (stops and limits across worker processes).
REDIS_URL = os.environ.get("DIFYCHAT_BENCH_REDIS", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def http_post_json(
    port: int, path: str, obj: Any, headers: dict[str, str] | None = None, timeout: float = 10.0
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(
            "POST",
            path,
            body=json.dumps(obj),
            headers={"content-type": "application/json", **(headers or {})},
        )
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


@dataclass
class Service:
    """A process started by the harness, with an HTTP readiness probe."""

    name: str
    cmd: list[str]
    port: int
    log_dir: Path
    ready_path: str = "/health"
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = REPO
    unset: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def start(self, ready_timeout: float = 60.0) -> Service:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        for k in self.unset:
            env.pop(k, None)
        # The child keeps its own copy of the log's descriptor; ours closes once it has started.
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.cmd,
                cwd=self.cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}; see {self.log_path}:\n" + self.tail()
                )
            try:
                status, _ = http_get(self.port, self.ready_path, timeout=1.0)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"{self.name} not ready after {ready_timeout:.0f}s; see {self.log_path}:\n" + self.tail()
        )

    def tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def cpu(self) -> float:
        return procstat.cpu_seconds(self.pid)

    def memory(self) -> procstat.Memory:
        return procstat.memory(self.pid)

    def stop(self, grace: float = 10.0) -> None:
        p = self.proc
        if p is None or p.poll() is not None:
            return
        pgid = p.pid  # start_new_session: the process leads its own group
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            p.wait(5)

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the fake upstream and the floor ---------------------------------------


def upstream_service(log_dir: Path, tokens: int, ttft_ms: float, gap_ms: float) -> Service:
    port = free_port()
    return Service(
        "upstream",
        [
            sys.executable,
            "-m",
            "benchmarks.upstream",
            "--port",
            str(port),
            "--tokens",
            str(tokens),
            "--ttft-ms",
            str(ttft_ms),
            "--gap-ms",
            str(gap_ms),
        ],
        port,
        log_dir,
    )


def configure_upstream(port: int, **cfg: float) -> None:
    status, body = http_post_json(port, "/_bench/config", cfg)
    if status != 200:
        raise RuntimeError(f"upstream config failed: {status} {body!r}")


def floor_service(log_dir: Path, upstream_port: int) -> Service:
    port = free_port()
    return Service(
        "floor",
        [
            sys.executable,
            "-m",
            "benchmarks.floor",
            "--port",
            str(port),
            "--upstream",
            f"http://127.0.0.1:{upstream_port}",
        ],
        port,
        log_dir,
    )


# -- LiteLLM, the peer -----------------------------------------------------

# LiteLLM refuses to start without a master key; this one guards a loopback-only process.
LITELLM_MASTER_KEY = "sk-bench-" + uuid.uuid4().hex + uuid.uuid4().hex
LITELLM_SPEC = os.environ.get("DIFYCHAT_BENCH_LITELLM", "litellm[proxy]")


def litellm_venv(log: Any = print) -> Path:
    """The peer's own virtual environment, created and filled on first use."""
    venv = VENVS / "litellm"
    exe = venv / "bin" / "litellm"
    if exe.exists():
        return venv
    log(f"installing {LITELLM_SPEC} into {venv} (first use; this can take minutes)")
    VENVS.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", LITELLM_SPEC], check=True)
    return venv


def litellm_version(venv: Path) -> str:
    r = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
    )
    return r.stdout.strip() or "?"


def litellm_service(log_dir: Path, upstream_port: int, venv: Path) -> Service:
    port = free_port()
    cfg = log_dir / "litellm.yaml"
    log_dir.mkdir(parents=True, exist_ok=True)
    cfg.write_text(
        "model_list:\n"
        "  - model_name: fake-model\n"
        "    litellm_params:\n"
        "      model: openai/fake-model\n"
        f"      api_base: http://127.0.0.1:{upstream_port}/v1\n"
        "      api_key: sk-fake\n"
        "general_settings:\n"
        f"  master_key: {LITELLM_MASTER_KEY}\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  set_verbose: false\n"
    )
    env = {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # never fetch the price list from the network
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOG": "ERROR",
        "DISABLE_SCHEMA_UPDATE": "True",
    }
    return Service(
        "litellm",
        [str(venv / "bin" / "litellm"), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port)],
        port,
        log_dir,
        ready_path="/health/liveliness",
        env=env,
        unset=["DATABASE_URL"],
    )


# -- difychat --------------------------------------------------------------


def difychat_command() -> list[str]:
    """How to run the ``difychat`` command: the script next to this Python, else the module."""
    override = os.environ.get("DIFYCHAT_BENCH_CMD")
    if override:
        return override.split()
    script = Path(sys.executable).parent / "difychat"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "difychat.cli"]


def _difychat_env() -> dict[str, str]:
    src = str(REPO / "src")
    pp = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": src + (os.pathsep + pp if pp else "")}


def difychat_available() -> tuple[bool, str]:
    """Whether ``difychat serve`` can run here (the server may not exist yet)."""
    if not os.environ.get("DIFYCHAT_BENCH_CMD") and not (REPO / "src" / "difychat" / "server").is_dir():
        return False, "src/difychat/server is absent"
    try:
        r = subprocess.run(
            [*difychat_command(), "serve", "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **_difychat_env()},
            cwd=REPO,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"difychat serve --help failed: {e}"
    if r.returncode != 0:
        last = (r.stderr or r.stdout).strip().splitlines()[-1:] or [""]
        return False, f"`difychat serve` is not runnable yet ({last[0][:160]})"
    return True, ""


def write_apps_yaml(path: Path, upstream_port: int, *, max_active_requests: int = 0) -> Path:
    """The bench apps; ``max_active_requests`` (0: none) puts a concurrency limit on the chat app, so
    that every chat request is admitted through the limiter (in Redis when the server has one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    limit = f"    max_active_requests: {max_active_requests}\n" if max_active_requests else ""
    path.write_text(
        "apps:\n"
        "  - name: Bench\n"
        "    mode: chat\n"
        f"    api_keys: [{API_KEY}]\n"
        f"{limit}"
        "    model: {provider: openai, name: fake-model, "
        f"base_url: http://127.0.0.1:{upstream_port}/v1, api_key: sk-fake}}\n"
        "  - name: Bench Agent\n"
        "    mode: agent-chat\n"
        f"    api_keys: [{AGENT_API_KEY}]\n"
        "    model: {provider: openai, name: fake-model, "
        f"base_url: http://127.0.0.1:{upstream_port}/v1, api_key: sk-fake}}\n"
        "    agent_mode:\n"
        "      tools: [{enabled: true, provider_type: builtin, provider_id: calculator, "
        "tool_name: calculator, tool_parameters: {}}]\n"
    )
    return path


def difychat_service(
    log_dir: Path,
    name: str,
    upstream_port: int,
    workers: int = 1,
    database_url: str | None = None,
    *,
    redis_url: str | None = None,
    max_active_requests: int = 0,
) -> Service:
    port = free_port()
    data_dir = log_dir / f"{name}-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    apps = write_apps_yaml(
        log_dir / f"{name}-apps.yaml", upstream_port, max_active_requests=max_active_requests
    )
    env = _difychat_env()
    cmd = [
        *difychat_command(),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--config",
        str(apps),
    ]
    if workers != 1:
        cmd += ["--workers", str(workers)]
    svc = Service(name, cmd, port, log_dir, env=env)
    if database_url:
        svc.env["DIFYCHAT_DATABASE_URL"] = database_url
    else:
        # SQLite: make sure an inherited PostgreSQL URL does not leak in.
        svc.unset.append("DIFYCHAT_DATABASE_URL")
    if redis_url:
        svc.env["DIFYCHAT_REDIS_URL"] = redis_url
    else:
        svc.unset.append("DIFYCHAT_REDIS_URL")
    return svc


def server_pid(comm: str) -> int | None:
    """The pid of a running process named ``comm`` whose parent has another name (a server's main
    process, e.g. ``redis-server``), or None."""
    names: dict[int, tuple[str, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = procstat._stat_fields(int(entry))
        try:
            with open(f"/proc/{entry}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        if fields is not None:
            names[int(entry)] = (name, int(fields[1]))  # fields[1]: the parent's pid
    for pid, (name, ppid) in sorted(names.items()):
        if name == comm and names.get(ppid, ("", 0))[0] != comm:
            return pid
    return None


def wait_workers(svc: Service, workers: int, timeout: float = 60.0) -> None:
    """Wait until ``workers`` processes of ``svc`` have started serving.

    ``/health`` answers as soon as one has: a load started then would open every connection to that
    one. uvicorn logs "Application startup complete." once per worker (a stand-in that logs nothing
    is taken as ready)."""
    if workers <= 1:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = svc.log_path.read_text(errors="replace")
        except OSError:
            text = ""
        if "Uvicorn running" not in text and "Started parent process" not in text:
            return  # not uvicorn: nothing to count
        if text.count("Application startup complete.") >= workers:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{svc.name}: {workers} workers not all started after {timeout:.0f}s")


def redis_reachable(url: str = REDIS_URL, timeout: float = 2.0) -> tuple[bool, str]:
    """Whether a Redis server answers PING at ``url`` (``redis://host:port[/db]``, no auth)."""
    rest = url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, _, port = rest.partition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port or 6379)), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            reply = s.recv(64)
    except (OSError, ValueError) as e:
        return False, f"Redis not reachable at {url} ({type(e).__name__})"
    if not reply.startswith(b"+PONG"):
        return False, f"Redis at {url} answered {reply[:40]!r}"
    return True, ""


# -- PostgreSQL databases --------------------------------------------------


def _pg_admin(sql: str) -> None:
    """Run one statement against the server's ``postgres`` database."""
    host, port = "127.0.0.1", "5432"
    rest = PG_URL_BASE.split("://", 1)[1]
    user = "postgres"
    if "@" in rest:
        user, rest = rest.split("@", 1)
    if ":" in rest:
        host, port = rest.split(":", 1)
    port = port.split("/")[0]
    psql = shutil.which("psql")
    if psql:
        subprocess.run(
            [psql, "-h", host, "-p", port, "-U", user, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return
    import asyncio

    import asyncpg

    async def go() -> None:
        c = await asyncpg.connect(host=host, port=int(port), user=user, database="postgres")
        try:
            await c.execute(sql)
        finally:
            await c.close()

    asyncio.run(go())


def pg_reachable() -> tuple[bool, str]:
    try:
        _pg_admin("SELECT 1")
        return True, ""
    except Exception as e:  # noqa: BLE001
        return False, f"PostgreSQL not reachable ({type(e).__name__})"


def pg_create(tag: str) -> tuple[str, str]:
    """Create a fresh database; returns (name, SQLAlchemy URL)."""
    name = f"{PG_PREFIX}{tag}_{uuid.uuid4().hex[:8]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    return name, f"{PG_URL_BASE}/{name}"


def pg_drop(name: str) -> None:
    assert name.startswith(PG_PREFIX)
    with contextlib.suppress(Exception):
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
