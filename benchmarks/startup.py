"""Start-up time and idle memory of ``difychat serve``, on SQLite and PostgreSQL.

    python -m benchmarks.startup                      # 5 starts per database
    python -m benchmarks.startup --runs 10 --db sqlite
    python -m benchmarks.startup --before benchmarks/results/startup-before.json

Each run starts ``difychat serve`` (as the main harness does: the benchmark's apps file, one
worker) on a fresh data directory (and, on PostgreSQL, a fresh database), then asks
``GET /v1/parameters`` with the app's key every few milliseconds. Start-up is the time from
``Popen`` to its first 200 answer: the interpreter, the imports, the migrations, the apps
file's sync and the app's own start. The process tree's CPU time at that moment is recorded
too (less sensitive to a busy machine than the wall clock). After ``--idle`` seconds with
no request, the tree's RSS and PSS are read from ``/proc``; then the server is stopped.

Results: ``startup.md`` and ``startup.json`` in ``--out`` (default ``benchmarks/results``).
With ``--before FILE.json`` (an earlier run's JSON) the table shows both; ``--notes FILE.md``
appends a hand-written section (what moved what) to the Markdown.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import http.client
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import procstat, services

PROBE_PATH = "/v1/parameters"
PROBE_EVERY = 0.005  # seconds between probes while the server starts


@dataclass
class Run:
    startup_ms: float
    startup_cpu_ms: float
    idle_rss_mb: float
    idle_pss_mb: float
    processes: int


@dataclass
class Series:
    database: str
    runs: list[Run] = field(default_factory=list)
    skipped: str = ""

    def summary(self) -> dict[str, Any]:
        if not self.runs:
            return {"database": self.database, "runs": 0, "skipped": self.skipped}
        ms = [r.startup_ms for r in self.runs]
        cpu = [r.startup_cpu_ms for r in self.runs]
        return {
            "database": self.database,
            "runs": len(self.runs),
            "startup_p50_ms": statistics.median(ms),
            "startup_max_ms": max(ms),
            "startup_cpu_p50_ms": statistics.median(cpu),
            "idle_rss_mb": statistics.median(r.idle_rss_mb for r in self.runs),
            "idle_pss_mb": statistics.median(r.idle_pss_mb for r in self.runs),
        }


def _probe(port: int, key: str) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2.0)
    try:
        conn.request("GET", PROBE_PATH, headers={"Authorization": f"Bearer {key}"})
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


def _cpu_with_reaped(pid: int) -> float:
    """CPU seconds of the live tree plus what the root's children that already ended used (the
    root's cutime and cstime): work done in a short-lived child still counts."""
    total = procstat.cpu_seconds(pid)
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # Fields 16 and 17 of /proc/PID/stat (cutime, cstime) are at 13 and 14 after the command name.
    return total + (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


# A port found free may be taken by another process before the server binds it (another test's
# server, say): that start is made again on another port, this many times at most.
PORT_ATTEMPTS = 3


class PortTaken(RuntimeError):
    pass


def start_once(work: Path, tag: str, database_url: str | None, idle: float, timeout: float) -> Run:
    """One start of ``difychat serve``: time to the first answered request, then idle memory."""
    for attempt in range(1, PORT_ATTEMPTS):
        with contextlib.suppress(PortTaken):
            return _start(work, f"{tag}-port{attempt}" if attempt > 1 else tag, database_url, idle, timeout)
    return _start(work, f"{tag}-port{PORT_ATTEMPTS}", database_url, idle, timeout)


def _start(work: Path, tag: str, database_url: str | None, idle: float, timeout: float) -> Run:
    # No request reaches the upstream: the apps file only needs an address for it.
    svc = services.difychat_service(work, tag, services.free_port(), database_url=database_url)
    env = {**os.environ, **svc.env}
    for k in svc.unset:
        env.pop(k, None)
    with open(svc.log_path, "ab") as log:
        t0 = time.perf_counter()
        svc.proc = subprocess.Popen(
            svc.cmd,
            cwd=svc.cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = t0 + timeout
        while True:
            status = _probe(svc.port, services.API_KEY)
            elapsed = time.perf_counter() - t0
            if status == 200:
                break
            if svc.proc.poll() is not None:
                tail = svc.tail()
                error = PortTaken if "address already in use" in tail else RuntimeError
                raise error(f"difychat exited with {svc.proc.returncode}:\n{tail}")
            if status is not None and status != 503:
                raise RuntimeError(f"GET {PROBE_PATH} answered {status}:\n{svc.tail()}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"difychat not ready after {timeout:.0f}s:\n{svc.tail()}")
            time.sleep(PROBE_EVERY)
        cpu = _cpu_with_reaped(svc.pid)
        time.sleep(idle)
        memory = svc.memory()
        return Run(
            startup_ms=elapsed * 1000,
            startup_cpu_ms=cpu * 1000,
            idle_rss_mb=memory.rss / 1e6,
            idle_pss_mb=memory.pss / 1e6,
            processes=len(procstat.tree(svc.pid)),
        )
    finally:
        svc.stop()


def measure(database: str, runs: int, work: Path, idle: float, timeout: float, log: Any = print) -> Series:
    series = Series(database)
    if database == "postgres":
        ok, why = services.pg_reachable()
        if not ok:
            series.skipped = why
            log(f"postgres: skipped ({why})")
            return series
    for i in range(runs):
        url: str | None = None
        name = ""
        if database == "postgres":
            name, url = services.pg_create("startup")
        try:
            run = start_once(work, f"{database}-{i}", url, idle, timeout)
        finally:
            if name:
                services.pg_drop(name)
        log(
            f"{database} run {i + 1}/{runs}: start-up {run.startup_ms:.0f} ms "
            f"(CPU {run.startup_cpu_ms:.0f} ms), idle RSS {run.idle_rss_mb:.1f} MB, "
            f"PSS {run.idle_pss_mb:.1f} MB"
        )
        series.runs.append(run)
    return series


def _fmt(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}"


def _rows(label: str, summaries: Sequence[dict[str, Any]]) -> list[str]:
    out = []
    for s in summaries:
        if not s.get("runs"):
            why = s.get("skipped", "")
            out.append(f"| {label} | {s['database']} | 0 | – | – | – | – | – | skipped: {why} |")
            continue
        out.append(
            f"| {label} | {s['database']} | {s['runs']} | {_fmt(s['startup_p50_ms'])} | "
            f"{_fmt(s['startup_max_ms'])} | {_fmt(s['startup_cpu_p50_ms'])} | {_fmt(s['idle_rss_mb'])} | "
            f"{_fmt(s['idle_pss_mb'])} | |"
        )
    return out


def report(result: dict[str, Any], before: dict[str, Any] | None, notes: str) -> str:
    meta = result["meta"]
    m = meta["machine"]
    lines = [
        "# difychat start-up and idle memory",
        "",
        f"- When: {meta['when']}; took {meta['took_s']:.1f} s",
        f"- Machine: {m.get('cores')} cores ({m.get('cpu', '?')}), {m.get('mem_gib')} GiB memory; "
        f"Python {meta['python']}",
        f"- Load average (1, 5, 15 min) at the start: {meta['loadavg_start']}; "
        f"at the end: {meta['loadavg_end']}",
        f"- Command: `{meta['command']}`",
        f"- Server: `{meta['server']}` with the benchmark's apps file (a chat app and an agent app), "
        f"one worker, a fresh data directory (and database) per run; bytecode: {meta['bytecode']}",
        "",
        f"Start-up is from `Popen` to the first 200 answer of an authenticated `GET {PROBE_PATH}`; "
        "CPU is the process tree's user + system time at that moment, with that of children that "
        "had ended by then. Idle RSS and PSS are the "
        f"process tree's after {meta['idle_s']:g} s without requests. Medians over the runs, "
        "except max.",
        "",
        "| build | database | runs | start-up p50 ms | start-up max ms | start-up CPU p50 ms | "
        "idle RSS MB | idle PSS MB | |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    if before is not None:
        lines += _rows("before", before["summary"])
        lines += _rows("after", result["summary"])
    else:
        lines += _rows("this run", result["summary"])
    if before is not None:
        bm = before["meta"]
        lines += [
            "",
            f"Before: {bm['when']}, `{bm['command']}`, load average {bm['loadavg_start']} → "
            f"{bm['loadavg_end']}; bytecode: {bm.get('bytecode', '?')}.",
        ]
    if notes:
        lines += ["", notes.strip()]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__)
    ap.add_argument("--runs", type=int, default=5, help="starts per database (default 5)")
    ap.add_argument(
        "--db",
        action="append",
        choices=("sqlite", "postgres"),
        help="database(s) to run on (default both; PostgreSQL when reachable)",
    )
    ap.add_argument("--idle", type=float, default=2.0, help="seconds idle before memory is read (default 2)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds a start may take (default 60)")
    ap.add_argument(
        "--out",
        type=Path,
        default=services.BENCH_DIR / "results",
        help="where startup.md/.json go (default benchmarks/results)",
    )
    ap.add_argument("--work-dir", type=Path, help="logs and data directories (default a temporary one)")
    ap.add_argument(
        "--no-compile",
        action="store_true",
        help="leave src/difychat's bytecode as found (default: compile it first, as an install does)",
    )
    ap.add_argument("--before", type=Path, help="an earlier run's startup.json, shown beside this one")
    ap.add_argument("--notes", type=Path, help="a Markdown section appended to startup.md")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    databases = args.db or ["sqlite", "postgres"]
    before = json.loads(args.before.read_text()) if args.before else None
    notes = args.notes.read_text() if args.notes else ""
    ok, why = services.difychat_available()
    if not ok:
        print(f"error: {why}", file=sys.stderr)
        return 1
    bytecode = "as found"
    if not args.no_compile:
        # An installed package has its bytecode; a checkout may not (PYTHONDONTWRITEBYTECODE, or files
        # changed since): without this, each start would compile the changed modules again.
        compileall.compile_dir(services.REPO / "src" / "difychat", quiet=1)
        bytecode = "src/difychat compiled before the runs"
    started = time.time()
    load_start = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    with contextlib.ExitStack() as stack:
        if args.work_dir is not None:
            work = args.work_dir
            work.mkdir(parents=True, exist_ok=True)
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="difychat-startup-")))
        series = [measure(db, args.runs, work, args.idle, args.timeout) for db in databases]
    load_end = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    given = list(argv) if argv is not None else sys.argv[1:]
    command = " ".join(["python -m benchmarks.startup", *([shlex.join(given)] if given else [])])
    result: dict[str, Any] = {
        "meta": {
            "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)),
            "took_s": time.time() - started,
            "machine": procstat.machine_info(),
            "python": platform.python_version(),
            "command": command,
            "server": " ".join([*services.difychat_command(), "serve", "--config", "apps.yaml"]).replace(
                str(services.REPO) + "/", ""
            ),
            "bytecode": bytecode,
            "loadavg_start": load_start,
            "loadavg_end": load_end,
            "idle_s": args.idle,
            "runs": args.runs,
        },
        "summary": [s.summary() for s in series],
        "runs": {s.database: [asdict(r) for r in s.runs] for s in series},
        "skipped": {s.database: s.skipped for s in series if s.skipped},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "startup.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "startup.md").write_text(report(result, before, notes))
    print(f"wrote {args.out / 'startup.md'} and {args.out / 'startup.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
