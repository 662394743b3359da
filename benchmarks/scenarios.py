"""The scenarios.  Each runs every side it applies to in the same run and
returns plain rows (dicts) for the report.

Sides ("targets"):

* ``direct``: straight to the fake upstream (the baseline every "added"
  number is measured from);
* ``floor``: the pass-through proxy (``benchmarks.floor``);
* ``litellm``: LiteLLM's proxy (the peer);
* ``difychat-sqlite`` / ``difychat-postgres``: the system under test.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import procstat, seed, services
from benchmarks.services import Service

# -- sizes -----------------------------------------------------------------


@dataclass
class Sizes:
    """How big each scenario is; ``full``, ``quick`` and ``tiny`` presets."""

    concurrency: list[int] = field(default_factory=lambda: [1, 16, 64])
    latency_duration: float = 15.0
    latency_max_requests: int = 20000
    tokens: int = 8
    ttft_ms: float = 20.0
    gap_ms: float = 5.0
    throughput_concurrency: int = 32
    throughput_duration: float = 15.0
    throughput_max_requests: int | None = None
    streams: list[int] = field(default_factory=lambda: [100, 1000, 4000])
    stream_gap_ms: float = 1000.0
    stream_events: int = 30
    history_repeats: int = 200
    history_scale: float = 1.0
    stop_trials: int = 50
    stop_workers: list[int] = field(default_factory=lambda: [1, 2])
    stop_tokens: int = 400  # 50 ms apart: the stream would last 20 s if the stop did nothing
    agent_concurrency: list[int] = field(default_factory=lambda: [1, 8])
    agent_requests: int = 400
    # 7. workers: the same loads on one worker and on several (PostgreSQL + Redis), and a cross-worker stop.
    workers: list[int] = field(default_factory=lambda: [1, 2])
    workers_block_concurrency: int = 32
    workers_stream_concurrency: int = 64
    workers_duration: float = 15.0
    workers_max_requests: int | None = None
    workers_stop_trials: int = 50
    # The blocking load again with this max_active_requests on the app (never reached: every turn is
    # admitted through Redis); 0 leaves it out.
    workers_app_limit: int = 10000
    # With several workers, the blocking load again at the concurrency times the workers.
    workers_per_worker_load: bool = True
    # 8. continuing conversations: blocking turns on conversations made beforehand.
    continue_concurrency: int = 32
    continue_duration: float = 15.0
    continue_max_requests: int | None = None
    warmup: int = 4

    @classmethod
    def preset(cls, name: str) -> Sizes:
        if name == "full":
            return cls()
        if name == "quick":
            return cls(
                latency_duration=3.0,
                latency_max_requests=4000,
                throughput_duration=3.0,
                streams=[100, 500],
                stream_gap_ms=500.0,
                stream_events=12,
                history_repeats=20,
                history_scale=0.1,
                stop_trials=10,
                agent_requests=60,
                workers_duration=5.0,
                workers_stop_trials=20,
                continue_duration=3.0,
            )
        if name == "tiny":
            return cls(
                concurrency=[1, 2],
                latency_duration=0.5,
                latency_max_requests=4,
                throughput_concurrency=2,
                throughput_duration=0.5,
                throughput_max_requests=8,
                streams=[3],
                stream_gap_ms=50.0,
                stream_events=6,
                history_repeats=2,
                history_scale=0.0001,
                stop_trials=2,
                stop_tokens=40,
                stop_workers=[1, 2],
                agent_concurrency=[1],
                agent_requests=4,
                workers_block_concurrency=2,
                workers_stream_concurrency=2,
                workers_duration=0.5,
                workers_max_requests=8,
                workers_stop_trials=2,
                continue_concurrency=2,
                continue_duration=0.5,
                continue_max_requests=8,
                warmup=1,
            )
        raise ValueError(name)


# -- targets and one load run ----------------------------------------------


@dataclass
class Target:
    name: str
    protocol: str  # "openai" or "dify"
    port: int
    service: Service | None  # None for ``direct`` (the upstream itself)
    key: str = "sk-fake"  # bearer token for the OpenAI-protocol sides


@dataclass
class Ctx:
    work: Path
    sizes: Sizes
    upstream: Service
    targets: list[Target]
    log: Any = print

    def target(self, name: str) -> Target | None:
        return next((t for t in self.targets if t.name == name), None)

    def difychat_targets(self) -> list[Target]:
        return [t for t in self.targets if t.protocol == "dify"]


_LOAD_SEQ = itertools.count(1)


def chat_spec(
    t: Target,
    mode: str,
    concurrency: int,
    *,
    requests: int | None = None,
    duration: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    streaming = mode in ("stream", "stop")
    if t.protocol == "openai":
        body: dict[str, Any] = {
            "model": "fake-model",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": streaming,
        }
        if streaming:
            body["stream_options"] = {"include_usage": True}
        path, key = "/v1/chat/completions", t.key
    else:
        body = {
            "inputs": {},
            "query": "hi",
            "user": "{user}",
            "response_mode": "streaming" if streaming else "blocking",
        }
        path, key = "/v1/chat-messages", services.API_KEY
    spec = {
        "port": t.port,
        "protocol": t.protocol,
        "mode": mode,
        "path": path,
        "body": body,
        "headers": {"authorization": f"Bearer {key}"},
        "concurrency": concurrency,
        "requests": requests,
        "duration": duration,
    }
    spec.update(extra)
    return spec


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def ms(x: float | None) -> float | None:
    return None if x is None else round(x * 1000.0, 3)


def run_load(
    ctx: Ctx, t: Target, spec: dict[str, Any], sample_memory: bool = False, machine: bool = False
) -> dict[str, Any]:
    """Runs one load in its own process; returns the summary of what it saw.

    ``machine``: also how busy the whole machine was (all cores, every process), its load average,
    and the CPU of each process of the side (its workers)."""
    if machine:
        spec["per_pid"] = True
    stem = ctx.work / f"load-{next(_LOAD_SEQ):03d}-{t.name}"
    spec_path, out_path = stem.with_suffix(".spec.json"), stem.with_suffix(".json")
    sut = t.service
    # The load generator reads both trees' CPU itself, around its measured phase only.
    spec["watch"] = {
        "sut": sut.pid if sut else None,
        "upstream": ctx.upstream.pid,
        **spec.pop("watch_more", {}),
    }
    spec_path.write_text(json.dumps(spec))
    mem0 = sut.memory() if sut else None
    limit = (spec.get("duration") or 0) + float(spec.get("ramp", 0)) + float(spec.get("timeout", 60)) * 2 + 60
    cmd = [sys.executable, "-m", "benchmarks.loadgen", "--spec", str(spec_path), "--out", str(out_path)]
    sampler = procstat.MemorySampler(sut.pid) if (sut and sample_memory) else None
    if sampler:
        sampler.__enter__()
    try:
        r = subprocess.run(cmd, cwd=services.REPO, capture_output=True, text=True, timeout=limit)
    finally:
        if sampler:
            sampler.__exit__()
    if r.returncode != 0:
        raise RuntimeError(f"load generator failed ({r.returncode}): {r.stderr[-800:]}")
    res = json.loads(out_path.read_text())
    recs = res["records"]
    ok = [x for x in recs if x["ok"]]
    errors = [x for x in recs if not x["ok"]]
    ttft = [x["ttft"] for x in ok if "ttft" in x]
    total = [x["total"] for x in ok]
    gaps = [g for x in ok for g in x.get("gaps", ())]
    elapsed = res["elapsed"]
    cpu = res.get("cpu_s") or {}
    s: dict[str, Any] = {
        "target": t.name,
        "requests": len(recs),
        "ok": len(ok),
        "errors": len(errors),
        "error_samples": sorted({str(x.get("error")) for x in errors})[:3],
        "elapsed_s": round(elapsed, 3),
        "rps": round(len(ok) / elapsed, 1) if elapsed > 0 else None,
        "ttft_p50_ms": ms(pct(ttft, 50)),
        "ttft_p99_ms": ms(pct(ttft, 99)),
        "total_p50_ms": ms(pct(total, 50)),
        "total_p99_ms": ms(pct(total, 99)),
        "gap_p50_ms": ms(pct(gaps, 50)),
        "gap_p99_ms": ms(pct(gaps, 99)),
        "max_open": res.get("max_open"),
        "loadgen_cpu_pct": round(100 * res["loadgen_cpu_s"] / elapsed, 1) if elapsed > 0 else None,
        "upstream_cpu_pct": round(100 * cpu["upstream"] / elapsed, 1) if elapsed > 0 else None,
    }
    if "sut" in cpu and recs:
        s["cpu_ms_per_req"] = round(1000 * cpu["sut"] / len(recs), 3)
        if "sut_loop" in cpu:
            s["loop_cpu_ms_per_req"] = round(1000 * cpu["sut_loop"] / len(recs), 3)
        s["sut_cpu_pct"] = round(100 * cpu["sut"] / elapsed, 1) if elapsed > 0 else None
    if sampler and mem0 is not None:
        s["rss_idle_mb"] = round(mem0.rss / 2**20, 1)
        s["rss_peak_mb"] = round(sampler.peak_rss / 2**20, 1)
        s["pss_idle_mb"] = round(mem0.pss / 2**20, 1)
        s["pss_peak_mb"] = round(sampler.peak_pss / 2**20, 1)
    if spec.get("mode") == "stop":
        stops = [x["stop_to_end"] for x in ok if "stop_to_end" in x]
        resp = [x["stop_response"] for x in ok if "stop_response" in x]
        s["stop_to_end_p50_ms"] = ms(pct(stops, 50))
        s["stop_to_end_p99_ms"] = ms(pct(stops, 99))
        s["stop_response_p50_ms"] = ms(pct(resp, 50))
        s["stopped"] = len(stops)
        s["events_p50"] = pct([float(x.get("events", 0)) for x in ok], 50)
        if spec.get("stop_cross"):
            s["crossed"] = sum(1 for x in ok if x.get("crossed"))
            crossed = [x["stop_to_end"] for x in ok if x.get("crossed") and "stop_to_end" in x]
            s["crossed_stop_to_end_p50_ms"] = ms(pct(crossed, 50))
            s["crossed_stop_to_end_p99_ms"] = ms(pct(crossed, 99))
            s["crossed_stop_to_end_max_ms"] = ms(max(crossed)) if crossed else None
            tries = [float(x["stop_attempts"]) for x in ok if "stop_attempts" in x]
            s["stop_attempts_p50"] = pct(tries, 50)
    n = len(recs)
    for k in ("postgres", "redis"):
        if k in cpu and n and elapsed > 0:
            s[f"{k}_cpu_pct"] = round(100 * cpu[k] / elapsed, 1)
            s[f"{k}_ms_per_req"] = round(1000 * cpu[k] / n, 3)
    if machine and n and elapsed > 0:
        # Every process a request passes through, per request: the side, the load generator, the
        # upstream and, when watched, the database's backends and Redis. On an otherwise idle machine
        # no number of workers serves more than the cores divided by this.
        harness = (res["loadgen_cpu_s"] + cpu.get("upstream", 0.0)) / n
        s["harness_ms_per_req"] = round(1000 * harness, 3)
        total = harness + (cpu.get("sut", 0.0) + cpu.get("postgres", 0.0) + cpu.get("redis", 0.0)) / n
        if total > 0:
            s["all_cpu_ms_per_req"] = round(1000 * total, 3)
            s["cores_ceiling_rps"] = round((os.cpu_count() or 1) / total, 1)
    if machine:
        if res.get("machine_busy") is not None:
            # Percent of one core, as the other CPU figures: 200 % is a 2-core machine fully busy.
            s["machine_busy_pct"] = round(100 * res["machine_busy"] * (os.cpu_count() or 1), 1)
        s["loadavg_1m"] = res.get("loadavg_1m")
        by_pid = res.get("sut_cpu_by_pid") or {}
        if by_pid and elapsed > 0:
            # The busiest processes of the side first (the workers; the supervisor is near 0).
            shares = sorted((round(100 * v / elapsed, 1) for v in by_pid.values()), reverse=True)
            s["worker_cpu_pct"] = [x for x in shares if x > 0] or shares[:1]
    if errors:
        ctx.log(f"    {t.name}: {len(errors)} errors, e.g. {s['error_samples'][:1]}")
    return s


def warm_up(ctx: Ctx) -> None:
    """A few streaming and blocking requests to every side, unrecorded, so that
    first-request costs stay out of every scenario (and out of idle memory)."""
    sz = ctx.sizes
    services.configure_upstream(ctx.upstream.port, ttft_ms=0, gap_ms=0, tokens=sz.tokens)
    for t in ctx.targets:
        ctx.log(f"  warming up {t.name}")
        for mode in ("stream", "block"):
            run_load(ctx, t, chat_spec(t, mode, 2, requests=2 * sz.warmup, timeout=60))


def _sub(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return round(a / b, 2)


# -- 1. added latency ------------------------------------------------------


def latency(ctx: Ctx) -> list[dict[str, Any]]:
    sz = ctx.sizes
    services.configure_upstream(ctx.upstream.port, ttft_ms=sz.ttft_ms, gap_ms=sz.gap_ms, tokens=sz.tokens)
    rows: list[dict[str, Any]] = []
    for c in sz.concurrency:
        cell: list[dict[str, Any]] = []
        for t in ctx.targets:
            ctx.log(f"  [1] {t.name} streaming c={c}")
            spec = chat_spec(
                t,
                "stream",
                c,
                requests=max(sz.latency_max_requests, c),
                duration=sz.latency_duration,
                warmup=min(sz.warmup * c, 64),
                timeout=30,
            )
            s = run_load(ctx, t, spec)
            s["concurrency"] = c
            cell.append(s)
        base = next((s for s in cell if s["target"] == "direct"), None)
        for s in cell:
            if base is not None:
                for k in ("ttft_p50_ms", "ttft_p99_ms", "total_p50_ms", "total_p99_ms"):
                    s["added_" + k] = _sub(s[k], base[k])
        floor = next((s for s in cell if s["target"] == "floor"), None)
        for s in cell:
            if floor is not None and s["target"] not in ("direct", "floor"):
                s["added_ttft_p50_vs_floor"] = _ratio(
                    s.get("added_ttft_p50_ms"), floor.get("added_ttft_p50_ms")
                )
                s["cpu_vs_floor"] = _ratio(s.get("cpu_ms_per_req"), floor.get("cpu_ms_per_req"))
        rows.extend(cell)
    return rows


# -- 2. throughput ---------------------------------------------------------


def throughput(ctx: Ctx) -> list[dict[str, Any]]:
    sz = ctx.sizes
    services.configure_upstream(ctx.upstream.port, ttft_ms=0, gap_ms=0, tokens=sz.tokens)
    rows = []
    c = sz.throughput_concurrency
    for t in ctx.targets:
        ctx.log(f"  [2] {t.name} blocking c={c}")
        spec = chat_spec(
            t,
            "block",
            c,
            duration=sz.throughput_duration,
            requests=sz.throughput_max_requests,
            warmup=min(sz.warmup * c, 64),
            timeout=30,
        )
        s = run_load(ctx, t, spec)
        s["concurrency"] = c
        rows.append(s)
    floor = next((s for s in rows if s["target"] == "floor"), None)
    for s in rows:
        s["rps_vs_floor"] = _ratio(s["rps"], floor["rps"]) if floor else None
    return rows


# -- 3. open streams -------------------------------------------------------


def open_streams(ctx: Ctx) -> list[dict[str, Any]]:
    sz = ctx.sizes
    services.configure_upstream(
        ctx.upstream.port, ttft_ms=100, gap_ms=sz.stream_gap_ms, tokens=sz.stream_events
    )
    hold = 0.1 + sz.stream_gap_ms / 1000.0 * (sz.stream_events - 1)
    rows = []
    for n in sz.streams:
        ramp = min(n / 500.0, hold / 3)
        cell = []
        for t in ctx.targets:
            ctx.log(f"  [3] {t.name} {n} open streams (~{hold:.0f}s each)")
            spec = chat_spec(t, "stream", n, requests=n, ramp=ramp, timeout=hold + 60)
            s = run_load(ctx, t, spec, sample_memory=True)
            s["streams"] = n
            if "rss_peak_mb" in s:
                s["rss_kb_per_stream"] = round((s["rss_peak_mb"] - s["rss_idle_mb"]) * 1024 / n, 1)
                s["pss_kb_per_stream"] = round((s["pss_peak_mb"] - s["pss_idle_mb"]) * 1024 / n, 1)
            cell.append(s)
        base = next((s for s in cell if s["target"] == "direct"), None)
        for s in cell:
            s["added_gap_p99_ms"] = _sub(s["gap_p99_ms"], base["gap_p99_ms"]) if base else None
        rows.extend(cell)
    return rows


# -- 4. history at scale ---------------------------------------------------


def history(ctx: Ctx, starts: dict[str, Any]) -> list[dict[str, Any]]:
    """``starts`` maps a backend name to a callable that starts a fresh difychat
    on that backend and returns (Service, database_url, data_dir, cleanup)."""
    sz = ctx.sizes
    rows: list[dict[str, Any]] = []
    plan = seed.SeedPlan().scaled(sz.history_scale)
    for backend, start in starts.items():
        svc, url, data_dir, cleanup = start()
        try:
            ctx.log(
                f"  [4] {backend}: seeding {plan.messages} messages in {plan.conversations} conversations"
            )
            try:
                info = seed.seed_history(url, data_dir, plan)
            except Exception as e:  # noqa: BLE001 - e.g. a server whose tables differ, or a stand-in
                rows.append(
                    {"backend": backend, "skipped": f"cannot seed: {type(e).__name__}: {str(e)[:200]}"}
                )
                continue
            t = Target(f"difychat-{backend}", "dify", svc.port, svc)
            q = f"user={info.user}&limit=20"
            pages = {
                "messages first page": f"/v1/messages?conversation_id={info.conversation_id}&{q}",
                "messages deep page": f"/v1/messages?conversation_id={info.conversation_id}&{q}"
                f"&first_id={info.deep_first_id}",
                "conversations first page": f"/v1/conversations?{q}",
                "conversations deep page": f"/v1/conversations?{q}&last_id={info.deep_last_id}",
            }
            for label, path in pages.items():
                spec = {
                    "port": svc.port,
                    "protocol": "dify",
                    "mode": "get",
                    "method": "GET",
                    "paths": [path],
                    "headers": {"authorization": f"Bearer {services.API_KEY}"},
                    "concurrency": 1,
                    "requests": sz.history_repeats,
                    "warmup": 2,
                    "timeout": 30,
                }
                s = run_load(ctx, t, spec)
                s.update(
                    backend=backend,
                    page=label,
                    seeded_messages=info.messages,
                    seeded_conversations=info.conversations,
                    seed_s=round(info.seconds, 1),
                )
                rows.append(s)
        finally:
            cleanup()
    return rows


# -- 5. stop ---------------------------------------------------------------


def stop(ctx: Ctx, start_difychat: Any) -> list[dict[str, Any]]:
    """``start_difychat(workers)`` starts a fresh difychat (SQLite) and returns its Service."""
    sz = ctx.sizes
    # Long enough streams that the stop, not the answer's end, closes them.
    services.configure_upstream(ctx.upstream.port, ttft_ms=20, gap_ms=50, tokens=sz.stop_tokens)
    rows = []
    try:
        for w in sz.stop_workers:
            svc = start_difychat(w)
            try:
                t = Target(f"difychat-w{w}", "dify", svc.port, svc)
                ctx.log(f"  [5] stop with {w} worker(s)")
                spec = chat_spec(t, "stop", 1, requests=sz.stop_trials, stop_after=2, timeout=40, warmup=1)
                s = run_load(ctx, t, spec)
                s["workers"] = w
                rows.append(s)
            finally:
                svc.stop()
    finally:
        services.configure_upstream(ctx.upstream.port, ttft_ms=sz.ttft_ms, gap_ms=sz.gap_ms, tokens=sz.tokens)
    return rows


# -- 6. agent turns --------------------------------------------------------


def agent(ctx: Ctx) -> list[dict[str, Any]]:
    """An agent turn (one tool round: the model calls the built-in calculator, then answers) beside
    a plain chat turn, same upstream, same side.

    The agent turn's model time is the tool call's wait (TTFT) plus one answer as the direct
    baseline streams it; ``+ms/round`` is what is left of its total, split over its two rounds:
    the server's own cost per round (prompt, events, rows, the tool itself, which is microseconds).
    """
    sz = ctx.sizes
    services.configure_upstream(ctx.upstream.port, ttft_ms=sz.ttft_ms, gap_ms=sz.gap_ms, tokens=sz.tokens)
    rows: list[dict[str, Any]] = []
    direct = ctx.target("direct")
    for c in sz.agent_concurrency:
        base = None
        if direct is not None:
            ctx.log(f"  [6] direct c={c}")
            base = run_load(
                ctx, direct, chat_spec(direct, "stream", c, requests=sz.agent_requests, timeout=30)
            )
            base.update(concurrency=c, turn="model only", rounds=1)
            rows.append(base)
        for t in ctx.difychat_targets():
            for turn, key, rounds in (("chat", services.API_KEY, 1), ("agent", services.AGENT_API_KEY, 2)):
                ctx.log(f"  [6] {t.name} {turn} turns c={c}")
                spec = chat_spec(
                    t,
                    "stream",
                    c,
                    requests=sz.agent_requests,
                    warmup=min(sz.warmup * c, 16),
                    timeout=30,
                    headers={"authorization": f"Bearer {key}"},
                )
                s = run_load(ctx, t, spec)
                s.update(concurrency=c, turn=turn, rounds=rounds)
                if base is not None and s["total_p50_ms"] is not None and base["total_p50_ms"] is not None:
                    model_ms = base["total_p50_ms"] + (sz.ttft_ms if turn == "agent" else 0.0)
                    s["added_per_round_p50_ms"] = round((s["total_p50_ms"] - model_ms) / rounds, 3)
                rows.append(s)
    return rows


# -- 7. workers -------------------------------------------------------------


def workers(
    ctx: Ctx,
    start: Callable[..., Service],
    setup: dict[str, Any],
    watch: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The same loads on one worker and on several, then a stop that crosses workers.

    ``start(n, max_active_requests=0)`` starts a fresh difychat with ``n`` workers on the scenario's
    database and Redis (the same for every ``n``), its chat app limited as given, and returns its
    Service; ``setup`` labels the rows (database, stop bus);
    ``watch`` adds to what the load generator reads the CPU of (``redis``: a pid; ``pg_db``: the
    database whose backends to count).
    Blocking turns (instant upstream) and streamed turns (scenario 1's upstream) at fixed concurrency;
    ``× 1 worker`` is each load's requests per second over the one-worker figure. The whole machine's
    busy share is reported beside the side's own CPU: the load generator and the upstream share the
    cores with the workers.
    """
    sz = ctx.sizes
    port = ctx.upstream.port
    rows: list[dict[str, Any]] = []
    try:
        instant: dict[str, float] = {"ttft_ms": 0.0, "gap_ms": 0.0}
        blocking = ("block", sz.workers_block_concurrency, instant)
        streaming = ("stream", sz.workers_stream_concurrency, {"ttft_ms": sz.ttft_ms, "gap_ms": sz.gap_ms})

        def load(t: Target, w: int, label: str, mode: str, c: int, upstream_cfg: dict[str, float]) -> None:
            services.configure_upstream(port, tokens=sz.tokens, **upstream_cfg)
            ctx.log(f"  [7] {w} worker(s): {label} c={c}")
            spec = chat_spec(
                t,
                mode,
                c,
                duration=sz.workers_duration,
                requests=sz.workers_max_requests,
                warmup=min(sz.warmup * c, 64),
                timeout=30,
            )
            _watch_more(spec, watch)
            s = run_load(ctx, t, spec, machine=True)
            s.update(part="load", load=label, workers=w, concurrency=c, **setup)
            rows.append(s)

        for w in sz.workers:
            svc = start(w)
            try:
                t = Target(f"difychat-w{w}", "dify", svc.port, svc)
                load(t, w, "blocking", *blocking)
                load(t, w, "streaming", *streaming)
                if w > 1 and sz.workers_per_worker_load:
                    # As many connections per worker as one worker had: what the split itself costs.
                    mode, c, cfg = blocking
                    load(t, w, "blocking, same c per worker", mode, c * w, cfg)
                # The stopped turns continue one conversation: a new one each would leave a title call
                # behind (as slow as a whole answer here), which shutdown then waits for.
                services.configure_upstream(port, ttft_ms=0, gap_ms=0, tokens=sz.tokens)
                conversation = _new_conversation(t, "bench-0")
                time.sleep(0.3)
                # Long streams, so that the stop, not the answer's end, closes them.
                services.configure_upstream(port, ttft_ms=20, gap_ms=50, tokens=sz.stop_tokens)
                ctx.log(f"  [7] {w} worker(s): stop" + (" from another worker" if w > 1 else ""))
                spec = chat_spec(
                    t,
                    "stop",
                    1,
                    requests=sz.workers_stop_trials,
                    stop_after=2,
                    timeout=40,
                    warmup=1,
                    stop_cross=w > 1,
                )
                if conversation:
                    spec["body"]["conversation_id"] = conversation
                s = run_load(ctx, t, spec)
                s.update(part="stop", workers=w, **setup)
                rows.append(s)
            finally:
                svc.stop()
        if sz.workers_app_limit:
            # The chat app with a max_active_requests limit: every turn is admitted (and its slot given
            # back) through the limiter, in Redis when the server has one.
            for w in sz.workers:
                svc = start(w, sz.workers_app_limit)
                try:
                    t = Target(f"difychat-w{w}-limit", "dify", svc.port, svc)
                    load(t, w, "blocking, app limit", *blocking)
                finally:
                    svc.stop()
    finally:
        services.configure_upstream(port, ttft_ms=sz.ttft_ms, gap_ms=sz.gap_ms, tokens=sz.tokens)
    for label in ("blocking", "streaming", "blocking, app limit", "blocking, same c per worker"):
        cell = [r for r in rows if r.get("load") == label]
        base_label = "blocking" if label == "blocking, same c per worker" else label
        base = next((r for r in rows if r.get("load") == base_label and r["workers"] == 1), None)
        for r in cell:
            r["rps_vs_1w"] = _ratio(r["rps"], base["rps"]) if base else None
    return rows


def _watch_more(spec: dict[str, Any], watch: dict[str, Any] | None) -> None:
    if not watch:
        return
    if watch.get("pg_db"):
        spec["watch_pg_db"] = watch["pg_db"]
    if watch.get("redis"):
        spec["watch_more"] = {"redis": watch["redis"]}


# -- 8. turns that continue a conversation ---------------------------------


def _new_conversation(t: Target, user: str) -> str | None:
    body = {"inputs": {}, "query": "hi", "user": user, "response_mode": "blocking"}
    status, raw = services.http_post_json(
        t.port, "/v1/chat-messages", body, headers={"authorization": f"Bearer {services.API_KEY}"}
    )
    if status != 200:
        raise RuntimeError(f"could not start a conversation on {t.name}: HTTP {status} {raw[:200]!r}")
    conv = json.loads(raw).get("conversation_id")
    return str(conv) if conv else None


def _conversation_count(t: Target, user: str) -> int | None:
    """How many conversations ``user`` has (at most 100), or None when the side cannot say."""
    conn = http.client.HTTPConnection("127.0.0.1", t.port, timeout=10)
    try:
        conn.request(
            "GET",
            f"/v1/conversations?user={user}&limit=100",
            headers={"authorization": f"Bearer {services.API_KEY}"},
        )
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            return None
        return len(json.loads(body).get("data") or [])
    except (OSError, ValueError):
        return None
    finally:
        conn.close()


def _upstream_calls(ctx: Ctx) -> int | None:
    try:
        status, raw = services.http_get(ctx.upstream.port, "/_bench/stats")
    except OSError:
        return None
    if status != 200:
        return None
    st = json.loads(raw)
    return int(st.get("blocking", 0)) + int(st.get("streaming", 0))


def continuation(ctx: Ctx) -> list[dict[str, Any]]:
    """Blocking turns that continue a conversation made beforehand (one per connection), beside turns
    that each start a new one (scenario 2's load), same side, same run. A continuing turn makes one
    upstream call (no title); ``upstream calls/turn`` counts them at the fake upstream."""
    sz = ctx.sizes
    services.configure_upstream(ctx.upstream.port, ttft_ms=0, gap_ms=0, tokens=sz.tokens)
    c = sz.continue_concurrency
    warm = min(sz.warmup * c, 64)
    rows: list[dict[str, Any]] = []
    for t in ctx.difychat_targets():
        backend = t.name.removeprefix("difychat-")
        for turn in ("new", "continue"):
            spec = chat_spec(
                t,
                "block",
                c,
                duration=sz.continue_duration,
                requests=sz.continue_max_requests,
                warmup=warm,
                timeout=30,
            )
            if turn == "continue":
                # Users of their own, so that their conversations can be counted afterwards.
                users = [f"cont-bench-{i}" for i in range(c)]
                convs = [_new_conversation(t, u) for u in users]
                if not all(convs):
                    raise RuntimeError(f"{t.name} answered without a conversation_id")
                time.sleep(0.5)  # the new conversations' title calls are done before the load
                spec["body"]["user"] = "cont-{user}"
                spec["body"]["conversation_id"] = "{conversation}"
                spec["conversations"] = convs
            ctx.log(f"  [8] {t.name} blocking c={c}, {turn} conversation(s)")
            calls0 = _upstream_calls(ctx)
            s = run_load(ctx, t, spec, machine=True)
            time.sleep(0.3)  # title calls started by the last turns
            calls1 = _upstream_calls(ctx)
            s.update(backend=backend, turn=turn, concurrency=c)
            turns = s["requests"] + warm
            if calls0 is not None and calls1 is not None and turns:
                s["upstream_calls_per_turn"] = round((calls1 - calls0) / turns, 2)
            if turn == "continue":
                s["turns_per_conversation"] = round(turns / c + 1, 1)
                s["conversations_per_user"] = _conversation_count(t, "cont-bench-0")
            rows.append(s)
        new = next((r for r in rows if r["backend"] == backend and r["turn"] == "new"), None)
        cont = rows[-1]
        cont["rps_vs_new"] = _ratio(cont["rps"], new["rps"]) if new else None
    return rows


def now_stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z")
