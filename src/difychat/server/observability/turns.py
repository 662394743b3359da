"""Chat turns and background queues, as metrics.

A turn is recorded once, when its task ends (the generation registry tells its observers):
no work per token. The final event carries what is recorded: ``MessageEnded``'s usage (time
to first token, tokens, prices) or ``GenerationFailed``'s code.

Queue depths (background jobs, the group writer's backlog) are sampled, once a second and
before each scrape, rather than counted on every enqueue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from difychat.server.domain.events import GenerationFailed, MessageEnded
from difychat.server.domain.usage import Price, Usage
from difychat.server.generation.registry import Generation
from difychat.server.observability import context
from difychat.server.observability.metrics import Metrics
from difychat.server.observability.upstream import UPSTREAM_CODES

logger = logging.getLogger("difychat.turns")


@dataclass(slots=True)
class _Series:
    """One app and mode's label children, resolved once."""

    normal: Any
    stopped: Any
    error: Any
    first_token: Any
    duration: Any
    prompt_tokens: Any
    completion_tokens: Any
    app: str
    cost: dict[str, Any] = field(default_factory=dict)


class TurnLogContext:
    """Registered with the generation registry: a turn's app and task ids join the log context."""

    def started(self, generation: Generation) -> None:
        # Called before the turn's task exists: the task copies this context, so its log lines
        # (and the rest of this request's) carry the app and task ids.
        context.bind_task(generation.app_id, generation.task_id)

    def finished(self, generation: Generation) -> None:
        pass


class TurnObserver:
    """Registered with the generation registry: sees each turn start and end."""

    def __init__(self, metrics: Metrics, app_name: Callable[[str], str]) -> None:
        self._metrics = metrics
        self._app_name = app_name
        self._series: dict[tuple[str, str], _Series] = {}
        self._running: dict[str, tuple[float, _Series, Any]] = {}
        self._in_progress = {
            mode: metrics.turns_in_progress.labels(mode) for mode in ("blocking", "streaming")
        }
        self._upstream: dict[str, Any] = {}

    def started(self, generation: Generation) -> None:
        # A blocking request reads only the final event: its generation has no queue.
        mode = "streaming" if generation.queue is not None else "blocking"
        in_progress = self._in_progress[mode]
        in_progress.inc()
        self._running[generation.task_id] = (
            time.perf_counter(),
            self._series_for(generation.app_id, mode),
            in_progress,
        )

    def finished(self, generation: Generation) -> None:
        entry = self._running.pop(generation.task_id, None)
        if entry is None:
            return
        started, series, in_progress = entry
        in_progress.dec()
        series.duration.observe(time.perf_counter() - started)
        final = generation.final
        if isinstance(final, MessageEnded):
            (series.stopped if final.stopped else series.normal).inc()
            self._record_usage(series, final.usage)
        else:
            series.error.inc()
            if isinstance(final, GenerationFailed) and final.code in UPSTREAM_CODES:
                self.upstream_error(final.code)
                logger.warning("turn %s: the model provider failed: %s", generation.task_id, final.message)

    def upstream_error(self, code: str) -> None:
        child = self._upstream.get(code)
        if child is None:
            child = self._upstream[code] = self._metrics.upstream_errors.labels(code)
        child.inc()

    def _record_usage(self, series: _Series, usage: Usage) -> None:
        if usage.time_to_first_token is not None:
            series.first_token.observe(usage.time_to_first_token)
        if usage.prompt_tokens:
            series.prompt_tokens.inc(usage.prompt_tokens)
        if usage.completion_tokens:
            series.completion_tokens.inc(usage.completion_tokens)
        cost = _cost(usage.prompt_tokens, usage.prompt_price) + _cost(
            usage.completion_tokens, usage.completion_price
        )
        if cost and usage.prompt_price is not None:
            currency = usage.prompt_price.currency
            child = series.cost.get(currency)
            if child is None:
                child = series.cost[currency] = self._metrics.cost.labels(series.app, currency)
            child.inc(float(cost))

    def _series_for(self, app_id: str, mode: str) -> _Series:
        found = self._series.get((app_id, mode))
        if found is None:
            m = self._metrics
            app = self._app_name(app_id)
            found = self._series[(app_id, mode)] = _Series(
                normal=m.turns.labels(app, mode, "normal"),
                stopped=m.turns.labels(app, mode, "stopped"),
                error=m.turns.labels(app, mode, "error"),
                first_token=m.first_token.labels(app, mode),
                duration=m.turn_duration.labels(app, mode),
                prompt_tokens=m.tokens.labels(app, "prompt"),
                completion_tokens=m.tokens.labels(app, "completion"),
                app=app,
            )
        return found


def _cost(tokens: int, price: Price | None) -> Decimal:
    if price is None or not tokens:
        return Decimal(0)
    return tokens * price.unit_price * price.price_unit


class QueueSampler:
    """Sets the queue-depth gauges from their sources every ``interval`` seconds."""

    def __init__(
        self,
        metrics: Metrics,
        *,
        pending_writes: Callable[[], int],
        background_jobs: Callable[[], Iterable[str]],
        interval: float = 1.0,
    ) -> None:
        self._metrics = metrics
        self._pending_writes = pending_writes
        self._background_jobs = background_jobs
        self._interval = interval
        self._kinds: dict[str, Any] = {}
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        self._metrics.pending_writes.set(self._pending_writes())
        counts: dict[str, int] = dict.fromkeys(self._kinds, 0)
        for name in self._background_jobs():
            # Job names are "<kind>-<id>" ("title-...", "annotation-enable-...").
            kind = name.split("-", 1)[0]
            counts[kind] = counts.get(kind, 0) + 1
        for kind, count in counts.items():
            child = self._kinds.get(kind)
            if child is None:
                child = self._kinds[kind] = self._metrics.background_jobs.labels(kind)
            child.set(count)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="difychat-metrics-sampler")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                self.sample()
            except Exception:
                logger.exception("sampling queue depths failed")
            await asyncio.sleep(self._interval)
