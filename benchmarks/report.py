"""Writes a run's results: ``results.json`` (everything), ``results.md`` (tables)
and ``results.png`` (a chart that names the machine's cores and memory)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

S1_COLS = [
    ("concurrency", "c"),
    ("target", "side"),
    ("ok", "ok"),
    ("errors", "err"),
    ("ttft_p50_ms", "TTFT p50"),
    ("ttft_p99_ms", "TTFT p99"),
    ("added_ttft_p50_ms", "+TTFT p50"),
    ("added_ttft_p99_ms", "+TTFT p99"),
    ("total_p50_ms", "total p50"),
    ("total_p99_ms", "total p99"),
    ("added_total_p50_ms", "+total p50"),
    ("added_total_p99_ms", "+total p99"),
    ("added_ttft_p50_vs_floor", "+TTFT ÷ floor's"),
    ("rps", "req/s"),
    ("cpu_ms_per_req", "CPU ms/req"),
    ("loop_cpu_ms_per_req", "of it, event loop"),
    ("cpu_vs_floor", "CPU ÷ floor's"),
]
S2_COLS = [
    ("target", "side"),
    ("concurrency", "c"),
    ("ok", "ok"),
    ("errors", "err"),
    ("rps", "req/s"),
    ("rps_vs_floor", "÷ floor's"),
    ("total_p50_ms", "p50 ms"),
    ("total_p99_ms", "p99 ms"),
    ("cpu_ms_per_req", "CPU ms/req"),
    ("loop_cpu_ms_per_req", "of it, event loop"),
    ("sut_cpu_pct", "side CPU %"),
]
S3_COLS = [
    ("streams", "N"),
    ("target", "side"),
    ("ok", "ok"),
    ("errors", "err"),
    ("max_open", "held"),
    ("ttft_p50_ms", "TTFT p50"),
    ("ttft_p99_ms", "TTFT p99"),
    ("gap_p50_ms", "gap p50"),
    ("gap_p99_ms", "gap p99"),
    ("added_gap_p99_ms", "+gap p99"),
    ("rss_idle_mb", "RSS idle MB"),
    ("rss_peak_mb", "RSS peak MB"),
    ("rss_kb_per_stream", "RSS KB/stream"),
    ("pss_kb_per_stream", "PSS KB/stream"),
    ("cpu_ms_per_req", "CPU ms/stream"),
]
S4_COLS = [
    ("backend", "database"),
    ("page", "request"),
    ("ok", "ok"),
    ("errors", "err"),
    ("total_p50_ms", "p50 ms"),
    ("total_p99_ms", "p99 ms"),
    ("cpu_ms_per_req", "CPU ms/req"),
    ("seeded_messages", "messages"),
    ("seeded_conversations", "conversations"),
    ("seed_s", "seed s"),
]
S5_COLS = [
    ("workers", "workers"),
    ("requests", "trials"),
    ("stopped", "stopped"),
    ("errors", "err"),
    ("stop_to_end_p50_ms", "stop→end p50"),
    ("stop_to_end_p99_ms", "stop→end p99"),
    ("stop_response_p50_ms", "stop reply p50"),
    ("events_p50", "events seen p50"),
]
S6_COLS = [
    ("concurrency", "c"),
    ("target", "side"),
    ("turn", "turn"),
    ("rounds", "rounds"),
    ("ok", "ok"),
    ("errors", "err"),
    ("ttft_p50_ms", "TTFT p50"),
    ("total_p50_ms", "total p50"),
    ("total_p99_ms", "total p99"),
    ("added_per_round_p50_ms", "+ms/round p50"),
    ("cpu_ms_per_req", "CPU ms/turn"),
]
S7_LOAD_COLS = [
    ("load", "load"),
    ("concurrency", "c"),
    ("workers", "workers"),
    ("ok", "ok"),
    ("errors", "err"),
    ("rps", "req/s"),
    ("rps_vs_1w", "× 1 worker"),
    ("ttft_p50_ms", "TTFT p50"),
    ("total_p50_ms", "p50 ms"),
    ("total_p99_ms", "p99 ms"),
    ("cpu_ms_per_req", "CPU ms/req"),
    ("sut_cpu_pct", "side CPU %"),
    ("worker_cpu_pct", "per process CPU %"),
    ("loadgen_cpu_pct", "load generator CPU %"),
    ("upstream_cpu_pct", "upstream CPU %"),
    ("postgres_ms_per_req", "PostgreSQL ms/req"),
    ("redis_ms_per_req", "Redis ms/req"),
    ("harness_ms_per_req", "load gen. + upstream ms/req"),
    ("all_cpu_ms_per_req", "all CPU ms/req"),
    ("cores_ceiling_rps", "cores ÷ all CPU (req/s)"),
    ("machine_busy_pct", "machine busy %"),
    ("loadavg_1m", "load avg"),
]
S7_STOP_COLS = [
    ("workers", "workers"),
    ("requests", "trials"),
    ("stopped", "stopped"),
    ("crossed", "crossed"),
    ("errors", "err"),
    ("stop_to_end_p50_ms", "stop→end p50"),
    ("stop_to_end_p99_ms", "stop→end p99"),
    ("crossed_stop_to_end_p50_ms", "crossed stop→end p50"),
    ("crossed_stop_to_end_max_ms", "crossed stop→end max"),
    ("stop_response_p50_ms", "stop reply p50"),
    ("stop_attempts_p50", "connections to cross p50"),
]
S8_COLS = [
    ("backend", "database"),
    ("turn", "conversation"),
    ("concurrency", "c"),
    ("ok", "ok"),
    ("errors", "err"),
    ("rps", "req/s"),
    ("rps_vs_new", "÷ new"),
    ("total_p50_ms", "p50 ms"),
    ("total_p99_ms", "p99 ms"),
    ("cpu_ms_per_req", "CPU ms/req"),
    ("sut_cpu_pct", "side CPU %"),
    ("upstream_calls_per_turn", "upstream calls/turn"),
    ("turns_per_conversation", "turns/conversation at end"),
    ("machine_busy_pct", "machine busy %"),
    ("loadavg_1m", "load avg"),
]
SANITY_COLS = [
    ("scenario", "scenario"),
    ("target", "side"),
    ("loadgen_cpu_pct", "load generator CPU %"),
    ("upstream_cpu_pct", "upstream CPU %"),
]

TITLES = {
    "latency": (
        "1. Added latency (streaming)",
        S1_COLS,
        "Milliseconds. `+` columns are what the side adds over going straight to the upstream "
        "(its percentile minus the direct percentile, same run, same concurrency). `of it, event "
        "loop` is the CPU of the side's main thread; the rest is its other threads' (difychat on "
        "SQLite: the thread that commits the turns).",
    ),
    "throughput": (
        "2. Throughput (blocking, instant upstream)",
        S2_COLS,
        "Blocking chat requests per second at fixed concurrency; `÷ floor's` is the ratio to the "
        "pass-through proxy measured in the same run. `of it, event loop` is the CPU of the side's "
        "main thread (its event loop), the rest being its other threads' (difychat on SQLite: the "
        "thread that commits the turns).",
    ),
    "open_streams": (
        "3. Open streams",
        S3_COLS,
        "N slow streams held at once, opened within a second, each by a user of its own (most of "
        "them new to the side: a burst of new users). TTFT is to each stream's first text (ms; the "
        "upstream's own is 100 ms). Gaps are between text events (ms); `+gap p99` is over the "
        "direct gap p99. Memory per stream = (peak − idle) ÷ N over the side's process tree "
        "(RSS counts shared pages per process; PSS splits them).",
    ),
    "history": (
        "4. History at scale",
        S4_COLS,
        "Sequential GETs of the first and a deep page of `/messages` and `/conversations` over a bulk-"
        "seeded database.",
    ),
    "stop": (
        "5. Stop",
        S5_COLS,
        "Time from sending `POST /chat-messages/{task_id}/stop` to receiving `message_end` on the stream.",
    ),
    "agent": (
        "6. Agent turns",
        S6_COLS,
        "Streaming turns of an agent app (the model calls the built-in calculator, then answers: two "
        "rounds) beside plain chat turns. `+ms/round` is the turn's total minus its model time (the "
        "direct baseline, plus the tool call's time to first token for an agent turn), per round: "
        "what the server adds per round, the tool's own run included. CPU is the side's, per turn.",
    ),
    "workers": (
        "7. Workers",
        S7_LOAD_COLS,
        "The same loads on a difychat with one worker and with two (`difychat serve --workers N`), one "
        "after the other on the same database and Redis: blocking turns with an instant upstream, and "
        "streamed turns with scenario 1's upstream. `× 1 worker` is req/s over the one-worker figure. "
        "`per process CPU %` is each process of the side (the workers, then the supervisor); `machine "
        "busy %` is all cores' busy share (200 % = 2 cores) over every process, the load generator's "
        "and the upstream's included, and `load avg` the 1-minute load average at the end of the load. "
        "`blocking, same c per worker` gives each of several workers as many connections as the one "
        "worker had (its `× 1 worker` is over the one-worker blocking figure). "
        "`all CPU ms/req` adds up the CPU a request costs in every process it passes through: the side, "
        "the load generator, the fake upstream, the database's backends (PostgreSQL) and Redis; the "
        "machine's cores divided by it is what no number of workers can exceed on this machine.",
    ),
    "continuation": (
        "8. Continuing conversations",
        S8_COLS,
        "Blocking turns (instant upstream) that continue a conversation made beforehand, one per "
        "connection (`conversation_id` sent; no title is generated), beside turns that each start a new "
        "conversation, same side, same run. `upstream calls/turn` is counted at the fake upstream (a "
        "new conversation also asks the model for its title).",
    ),
}
# Scenarios reported as several tables: the rows' field that splits them, and each part's table.
PARTS: dict[str, tuple[str, dict[str, tuple[str, list[tuple[str, str]]]]]] = {
    "workers": (
        "part",
        {
            "load": ("", S7_LOAD_COLS),
            "stop": (
                "Stop: a long stream on one connection, then `POST /chat-messages/{task_id}/stop` on "
                "a new connection; with two workers, new connections are opened until one is accepted "
                "by the other worker than the stream's (read from `/proc`: which process holds the "
                "server end of each connection), so the stop crosses workers. `crossed` counts the "
                "trials where it did; stop→end is from sending the stop to the stream's `message_end`.",
                S7_STOP_COLS,
            ),
        },
    ),
}


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, list):
        return " / ".join(_fmt(x) for x in v)
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.2f}"
    return str(v).replace("|", "\\|")


def table(rows: list[dict[str, Any]], cols: list[tuple[str, str]]) -> str:
    present = [(k, h) for k, h in cols if any(k in r for r in rows)]
    lines = ["| " + " | ".join(h for _, h in present) + " |", "|" + "---|" * len(present)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(k)) for k, _ in present) + " |")
    return "\n".join(lines)


def machine_line(meta: dict[str, Any]) -> str:
    m = meta["machine"]
    return f"{m.get('cores')} cores ({m.get('cpu', '?')}), {m.get('mem_gib')} GiB memory"


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    out = [
        "# difychat benchmark results",
        "",
        f"- When: {meta['when']}; profile: `{meta['profile']}`; took {meta.get('took_s', '?')} s",
        f"- Machine: {machine_line(meta)}; Python {meta['python']}",
        f"- Upstream (fake, OpenAI-compatible): {meta['upstream']}",
        f"- Sides: {', '.join(meta['sides'])}",
    ]
    if meta.get("litellm_version"):
        out.append(f"- Peer: LiteLLM proxy {meta['litellm_version']} (default single process)")
    out += [
        f"- Command: `{meta['command']}`",
        "",
        "The machine is shared and noisy: compare sides within this run (ratios), not across runs.",
        "",
    ]
    for key, (title, cols, note) in TITLES.items():
        out += [f"## {title}", ""]
        rows = results["scenarios"].get(key)
        skipped = results["skipped"].get(key)
        if skipped:
            out += [f"_Skipped: {skipped}_", ""]
        if rows:
            done = [r for r in rows if "skipped" not in r]
            for r in rows:
                if "skipped" in r:
                    out += [f"_{r.get('backend', '')}: skipped: {r['skipped']}_", ""]
            if done and key in PARTS:
                field, parts = PARTS[key]
                for part, (part_note, part_cols) in parts.items():
                    these = [r for r in done if r.get(field) == part]
                    if these:
                        out += [part_note or note, "", table(these, part_cols), ""]
            elif done:
                out += [note, "", table(done, cols), ""]
            errs = sorted({e for r in done for e in r.get("error_samples", [])})
            if errs:
                out += ["Errors seen: " + "; ".join(f"`{e}`" for e in errs[:5]), ""]
        elif not skipped:
            out += ["_Not run._", ""]
    sanity = [
        {"scenario": k, **r}
        for k, rows in results["scenarios"].items()
        for r in rows
        if "loadgen_cpu_pct" in r and (r.get("elapsed_s") or 0) >= 1.0
    ]
    if sanity:
        worst_lg = max(r["loadgen_cpu_pct"] or 0 for r in sanity)
        worst_up = max(r["upstream_cpu_pct"] or 0 for r in sanity)
        out += [
            "## The harness's own cost",
            "",
            (
                f"Highest CPU seen over a load run: load generator {worst_lg:.0f} %, fake upstream "
                f"{worst_up:.0f} % (100 % = one core). "
                "Near 100 % means that process, not the side, was the limit."
            ),
            "",
        ]
    return "\n".join(out)


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sc = results["scenarios"]
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    fig.suptitle(
        f"difychat benchmark ({results['meta']['profile']}) — {machine_line(results['meta'])}, "
        f"{results['meta']['when']}",
        fontsize=11,
    )

    def empty(ax: Any, title: str, why: str = "not run") -> None:
        ax.set_title(title, fontsize=10)
        ax.text(
            0.5, 0.5, textwrap.fill(why, 50), ha="center", va="center", transform=ax.transAxes, color="grey"
        )
        ax.set_xticks([])
        ax.set_yticks([])

    def grouped(
        ax: Any,
        rows: list[dict[str, Any]],
        group_key: str,
        value_key: str,
        title: str,
        ylabel: str,
        skip: tuple[str, ...] = (),
    ) -> None:
        rows = [r for r in rows if r.get(value_key) is not None and r["target"] not in skip]
        if not rows:
            empty(ax, title)
            return
        groups = sorted({r[group_key] for r in rows})
        sides = list(dict.fromkeys(r["target"] for r in rows))
        width = 0.8 / max(len(sides), 1)
        for i, side in enumerate(sides):
            vals = [
                next((r[value_key] for r in rows if r["target"] == side and r[group_key] == g), 0) or 0
                for g in groups
            ]
            xs = [j + i * width for j in range(len(groups))]
            ax.bar(xs, vals, width, label=side)
        ax.set_xticks([j + width * (len(sides) - 1) / 2 for j in range(len(groups))])
        ax.set_xticklabels([f"{group_key}={g}" for g in groups], fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(ylabel, fontsize=9)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.legend(fontsize=7)

    grouped(
        axes[0][0],
        sc.get("latency") or [],
        "concurrency",
        "added_ttft_p50_ms",
        "1. Added time to first token, p50",
        "ms over direct",
        skip=("direct",),
    )
    tp = sc.get("throughput") or []
    if tp:
        ax = axes[0][1]
        ax.bar(
            [r["target"] for r in tp], [r["rps"] or 0 for r in tp], color=[f"C{i}" for i in range(len(tp))]
        )
        ax.set_title(f"2. Blocking requests/s, c={tp[0]['concurrency']}, instant upstream", fontsize=10)
        ax.set_ylabel("req/s", fontsize=9)
        ax.tick_params(axis="x", labelsize=8, labelrotation=15)
    else:
        empty(axes[0][1], "2. Throughput")
    grouped(
        axes[1][0],
        sc.get("open_streams") or [],
        "streams",
        "rss_kb_per_stream",
        "3. Memory per open stream (RSS)",
        "KB per stream",
    )
    st = [r for r in (sc.get("stop") or []) if r.get("stop_to_end_p50_ms") is not None]
    hist = [r for r in (sc.get("history") or []) if "skipped" not in r]
    ax = axes[1][1]
    if st:
        labels = [f"{r['workers']} worker(s)" for r in st]
        ax.bar(labels, [r["stop_to_end_p50_ms"] for r in st], label="p50")
        ax.plot(labels, [r["stop_to_end_p99_ms"] for r in st], "o", color="black", label="p99")
        ax.set_title("5. Stop request → message_end", fontsize=10)
        ax.set_ylabel("ms", fontsize=9)
        ax.legend(fontsize=7)
    elif hist:
        ax.bar([f"{r['backend']}\n{r['page']}" for r in hist], [r["total_p50_ms"] or 0 for r in hist])
        ax.set_title("4. History page time, p50", fontsize=10)
        ax.set_ylabel("ms", fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
    else:
        empty(axes[1][1], "5. Stop", results["skipped"].get("stop") or "not run")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(results: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "results.json", "md": out_dir / "results.md", "png": out_dir / "results.png"}
    paths["json"].write_text(json.dumps(results, indent=1))
    paths["md"].write_text(markdown(results) + "\n")
    chart(results, paths["png"])
    return paths
