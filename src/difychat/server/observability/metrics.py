"""The Prometheus metrics, and their exposition for one process or for all of ``serve``'s workers.

With ``difychat serve --workers N`` every worker writes its values to memory-mapped files in one
directory (``PROMETHEUS_MULTIPROC_DIR``, prepared by ``serve``); a scrape, whichever worker
answers it, reads and sums them all. That is prometheus-client's multiprocess mode: values live
in each process's own files, so recording stays a local write (no lock shared between processes,
no I/O on the request path), and counters of a worker that has exited still count.

Gauges sum over live processes only (``livesum``): a worker's gauge files go away when it exits
(``mark_process_dead``), or at the next scrape when it died without a clean shutdown.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

# Seconds. An HTTP request is mostly milliseconds; a streamed one lasts as long as its answer.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# A model's first token: tens of milliseconds (a fake, a cache) to tens of seconds (a long prompt).
FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0)
TURN_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0)


class Metrics:
    """Every metric the server records, registered in a registry of its own (one per app)."""

    def __init__(self, multiprocess_dir: Path | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = registry = CollectorRegistry()
        self._before_scrape: list[Callable[[], None]] = []

        self.http_requests = Counter(
            "difychat_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_duration = Histogram(
            "difychat_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response (a stream: its whole length).",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        )
        self.active_streams = Gauge(
            "difychat_active_streams",
            "Event streams (text/event-stream responses) open now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.turns = Counter(
            "difychat_chat_turns",
            "Chat turns ended, by app, response mode and status (normal, stopped, error).",
            ["app", "mode", "status"],
            registry=registry,
        )
        self.turns_in_progress = Gauge(
            "difychat_chat_turns_in_progress",
            "Chat turns being generated now, by response mode.",
            ["mode"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.first_token = Histogram(
            "difychat_chat_time_to_first_token_seconds",
            "Time from a turn's start to its first answer text (the usage's time_to_first_token).",
            ["app", "mode"],
            buckets=FIRST_TOKEN_BUCKETS,
            registry=registry,
        )
        self.turn_duration = Histogram(
            "difychat_chat_turn_duration_seconds",
            "Time from a turn's start until its answer is saved and its final event sent.",
            ["app", "mode"],
            buckets=TURN_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "difychat_chat_tokens",
            "Tokens used by chat turns, by app and kind (prompt, completion).",
            ["app", "kind"],
            registry=registry,
        )
        self.cost = Counter(
            "difychat_chat_cost",
            "What chat turns cost at the app's configured prices, by app and currency.",
            ["app", "currency"],
            registry=registry,
        )
        self.upstream_errors = Counter(
            "difychat_upstream_errors",
            "Model provider failures, by the contract's error code.",
            ["code"],
            registry=registry,
        )
        self.background_jobs = Gauge(
            "difychat_background_jobs",
            "Background jobs running or waiting (conversation titles, annotation reply jobs), by kind.",
            ["kind"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.pending_writes = Gauge(
            "difychat_pending_writes",
            "Chat writes queued for the group writer's next commit.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        if multiprocess_dir is None:
            ProcessCollector(registry=registry)

    def before_scrape(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` before each exposition (to refresh sampled gauges)."""
        self._before_scrape.append(callback)

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The text a scrape returns and its content type (OpenMetrics when ``accept`` asks for it)."""
        for callback in self._before_scrape:
            callback()
        encoder, content_type = choose_encoder(accept or "")
        if self.multiprocess_dir is None:
            return encoder(self.registry), content_type
        reap_dead_processes(self.multiprocess_dir)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=str(self.multiprocess_dir))  # type: ignore[no-untyped-call]
        return encoder(merged), content_type

    def close(self) -> None:
        """This process is leaving: its live gauges stop counting (counters stay)."""
        if self.multiprocess_dir is not None:
            mark_process_dead(os.getpid(), str(self.multiprocess_dir))  # type: ignore[no-untyped-call]


def reap_dead_processes(directory: Path) -> None:
    """Drop the live-gauge files of processes that are gone (a worker killed without a clean exit)."""
    for path in directory.glob("gauge_live*_*.db"):
        pid_text = path.stem.rsplit("_", 1)[-1]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid != os.getpid() and not _alive(pid):
            mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prepare_multiprocess_dir(directory: Path) -> None:
    """Create ``directory`` or empty it of a previous run's files (they would be counted again)."""
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.db"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
