"""``python -m benchmarks``: runs every scenario, every side, in one go."""

from __future__ import annotations

import argparse
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import procstat, report, scenarios, services
from benchmarks.scenarios import Ctx, Sizes, Target
from benchmarks.services import Service

ALL = ("latency", "throughput", "open_streams", "history", "stop", "agent", "workers", "continuation")
NEEDS_DIFYCHAT = ("history", "stop", "agent", "workers", "continuation")


def _ints(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x.strip()]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="a few minutes in all (default: the full run)")
    ap.add_argument("--tiny", action="store_true", help="a handful of requests per cell (the CI smoke test)")
    ap.add_argument(
        "--scenarios",
        default=",".join(ALL),
        help=f"comma-separated subset of {','.join(ALL)} (or 1-{len(ALL)})",
    )
    ap.add_argument("--no-peer", action="store_true", help="leave LiteLLM out (no install, no run)")
    ap.add_argument("--no-difychat", action="store_true", help="leave difychat out")
    ap.add_argument("--no-postgres", action="store_true", help="run difychat on SQLite only")
    ap.add_argument("--difychat-workers", type=int, default=1, help="workers for scenarios 1-3 (default 1)")
    ap.add_argument(
        "--no-redis",
        action="store_true",
        help="run the workers scenario without Redis (stops relayed through the database)",
    )
    ap.add_argument(
        "--workers",
        type=_ints,
        dest="scale_workers",
        help="worker counts compared by the workers scenario (default 1,2)",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=services.BENCH_DIR / "results",
        help="where results.md/.png/.json go (default benchmarks/results)",
    )
    ap.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="logs, configs, raw load data (default benchmarks/.work/<time>)",
    )
    ap.add_argument("--concurrency", type=_ints, help="scenario 1 concurrencies, e.g. 1,16,64")
    ap.add_argument("--streams", type=_ints, help="scenario 3 stream counts, e.g. 100,1000,4000")
    ap.add_argument("--tokens", type=int, help="answer length in tokens (scenarios 1, 2)")
    ap.add_argument("--ttft-ms", type=float, help="upstream time to first token (scenario 1)")
    ap.add_argument("--gap-ms", type=float, help="upstream gap between tokens (scenario 1)")
    ap.add_argument("--duration", type=float, help="seconds per load cell (scenarios 1, 2)")
    return ap


def _scenario_list(s: str) -> list[str]:
    out = []
    for part in s.split(","):
        part = part.strip()
        if not part:
            continue
        if part.isdigit() and 1 <= int(part) <= len(ALL):
            part = ALL[int(part) - 1]
        if part not in ALL:
            raise SystemExit(f"unknown scenario {part!r}; choose from {', '.join(ALL)}")
        out.append(part)
    return out


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    profile = "tiny" if args.tiny else "quick" if args.quick else "full"
    sizes = Sizes.preset(profile)
    if args.concurrency:
        sizes.concurrency = args.concurrency
    if args.streams:
        sizes.streams = args.streams
    if args.tokens:
        sizes.tokens = args.tokens
    if args.ttft_ms is not None:
        sizes.ttft_ms = args.ttft_ms
    if args.gap_ms is not None:
        sizes.gap_ms = args.gap_ms
    if args.duration:
        sizes.latency_duration = sizes.throughput_duration = args.duration
        sizes.workers_duration = sizes.continue_duration = args.duration
    if args.scale_workers:
        sizes.workers = args.scale_workers
    wanted = _scenario_list(args.scenarios)
    _raise_nofile()

    stamp = time.strftime("%Y%m%d-%H%M%S")
    work = (args.work_dir or services.BENCH_DIR / ".work" / stamp).resolve()
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - t_start:6.1f}s] {msg}", flush=True)

    log(f"profile {profile}; scenarios {', '.join(wanted)}; work dir {work}")
    skipped: dict[str, str] = {}
    started: list[Service] = []
    pg_dbs: list[str] = []
    meta: dict[str, Any] = {
        "when": scenarios.now_stamp(),
        "profile": profile,
        "python": platform.python_version(),
        "machine": procstat.machine_info(),
        "command": "python -m benchmarks " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "upstream": (
            f"{sizes.tokens}-token answers, TTFT {sizes.ttft_ms:g} ms, {sizes.gap_ms:g} ms between tokens "
            "(scenarios 1, 6); instant (2); slow streams (3, 5)"
        ),
    }

    def start(svc: Service, timeout: float = 60.0) -> Service:
        started.append(svc)
        return svc.start(timeout)

    failures = 0
    results: dict[str, Any] = {"meta": meta, "scenarios": {}, "skipped": skipped}
    try:
        up = start(services.upstream_service(work, sizes.tokens, sizes.ttft_ms, sizes.gap_ms))
        targets = [Target("direct", "openai", up.port, None)]
        floor = start(services.floor_service(work, up.port))
        targets.append(Target("floor", "openai", floor.port, floor))

        if args.no_peer:
            skipped_peer = "LiteLLM left out (--no-peer)"
            log(skipped_peer)
        else:
            venv = services.litellm_venv(log)
            meta["litellm_version"] = services.litellm_version(venv)
            try:
                lit = start(services.litellm_service(work, up.port, venv), timeout=180)
                targets.append(Target("litellm", "openai", lit.port, lit, key=services.LITELLM_MASTER_KEY))
            except RuntimeError as e:
                log(f"LiteLLM did not start, left out: {e}")
                meta["litellm_version"] += " (did not start; see the work dir's litellm.log)"

        dify_ok, why = (
            (False, "difychat left out (--no-difychat)")
            if args.no_difychat
            else services.difychat_available()
        )
        pg_ok, pg_why = (
            (False, "PostgreSQL left out (--no-postgres)") if args.no_postgres else services.pg_reachable()
        )
        start_dify: Callable[[int], Service] | None = None
        start_scaled: Callable[..., Service] | None = None
        scaled_setup: dict[str, Any] = {}
        scaled_watch: dict[str, Any] = {}
        history_starts: dict[str, Any] = {}
        if not dify_ok:
            log(f"difychat skipped: {why}")
            for k in NEEDS_DIFYCHAT:
                skipped[k] = why
            meta["difychat"] = f"skipped: {why}"
        else:
            seq = iter(range(1000))

            def start_dify(workers: int, database_url: str | None = None, tag: str = "sqlite") -> Service:
                name = f"difychat-{tag}-{next(seq)}"
                return start(services.difychat_service(work, name, up.port, workers, database_url))

            targets.append(Target("difychat-sqlite", "dify", 0, start_dify(args.difychat_workers)))
            if pg_ok:
                db, url = services.pg_create("main")
                pg_dbs.append(db)
                targets.append(
                    Target("difychat-postgres", "dify", 0, start_dify(args.difychat_workers, url, "postgres"))
                )
            else:
                log(f"difychat on PostgreSQL skipped: {pg_why}")
                meta["postgres"] = f"skipped: {pg_why}"
            for t in targets:
                if t.port == 0 and t.service is not None:
                    t.port = t.service.port

            def hist_sqlite() -> tuple[Service, str, Path, Callable[[], None]]:
                svc = start_dify(1)
                return svc, "sqlite", work / f"{svc.name}-data", svc.stop

            # The workers scenario: one database and one Redis for every worker count.
            redis_ok, redis_why = (
                (False, "Redis left out (--no-redis)") if args.no_redis else services.redis_reachable()
            )
            if not redis_ok:
                log(f"workers scenario without Redis: {redis_why}")
            scaled_url: str | None = None
            if pg_ok and "workers" in wanted:
                db, scaled_url = services.pg_create("workers")
                pg_dbs.append(db)
                scaled_watch["pg_db"] = db
            if redis_ok:
                scaled_watch["redis"] = services.server_pid("redis-server")
            redis_url = services.REDIS_URL if redis_ok else None
            scaled_setup.update(
                database="postgres" if scaled_url else "sqlite",
                stop_bus="redis" if redis_ok else "database",
            )
            scaled_data = work / "difychat-workers-data"

            def start_scaled(workers: int, max_active_requests: int = 0) -> Service:
                svc = services.difychat_service(
                    work,
                    f"difychat-workers-{next(seq)}",
                    up.port,
                    workers,
                    scaled_url,
                    redis_url=redis_url,
                    max_active_requests=max_active_requests,
                )
                # Same data folder (SQLite file, uploads) for every worker count, as the database is.
                scaled_data.mkdir(parents=True, exist_ok=True)
                svc.cmd[svc.cmd.index("--data-dir") + 1] = str(scaled_data)
                start(svc)
                services.wait_workers(svc, workers)
                return svc

            history_starts["sqlite"] = hist_sqlite
            if pg_ok:

                def hist_pg() -> tuple[Service, str, Path, Callable[[], None]]:
                    db, url = services.pg_create("history")
                    pg_dbs.append(db)
                    svc = start_dify(1, url, "postgres")

                    def cleanup() -> None:
                        svc.stop()
                        services.pg_drop(db)

                    return svc, url, work / f"{svc.name}-data", cleanup

                history_starts["postgres"] = hist_pg
        meta["sides"] = [t.name for t in targets]

        ctx = Ctx(work, sizes, up, targets, log)
        # Scenarios 1-3 compare sides: drop the PostgreSQL difychat where the issue asks only for one.
        lat_targets = [t for t in targets if t.name != "difychat-postgres"]
        if any(n not in skipped for n in wanted):
            log("warm-up")
            scenarios.warm_up(ctx)
        for name in wanted:
            if name in skipped:
                continue
            log(f"scenario {name}")
            try:
                if name == "latency":
                    rows = scenarios.latency(Ctx(work, sizes, up, lat_targets, log))
                elif name == "throughput":
                    rows = scenarios.throughput(ctx)
                elif name == "open_streams":
                    rows = scenarios.open_streams(Ctx(work, sizes, up, lat_targets, log))
                elif name == "history":
                    rows = scenarios.history(ctx, history_starts)
                elif name == "agent":
                    rows = scenarios.agent(Ctx(work, sizes, up, lat_targets, log))
                elif name == "workers":
                    assert start_scaled is not None
                    rows = scenarios.workers(ctx, start_scaled, scaled_setup, scaled_watch)
                elif name == "continuation":
                    rows = scenarios.continuation(ctx)
                else:
                    assert start_dify is not None
                    rows = scenarios.stop(ctx, lambda w: start_dify(w))
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                # One broken scenario must not lose the others' results.
                log(f"scenario {name} failed: {e}")
                skipped[name] = f"failed: {str(e)[:300]}"
                failures += 1
                continue
            results["scenarios"][name] = rows
        for name in ALL:
            if name not in wanted and name not in skipped:
                skipped[name] = "not selected (--scenarios)"
    finally:
        for svc in reversed(started):
            svc.stop()
        for db in pg_dbs:
            services.pg_drop(db)
    meta["took_s"] = round(time.monotonic() - t_start, 1)
    paths = report.write(results, args.out)
    log("wrote " + ", ".join(str(p) for p in paths.values()))
    if failures:
        log(f"{failures} scenario(s) failed; logs are in {work}")
        return 1
    if not args.work_dir and profile == "tiny":
        shutil.rmtree(work, ignore_errors=True)
    return 0
