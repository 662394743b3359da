"""Request ids, log formatting, and what one chat turn adds to the metrics."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from difychat.server.domain.events import GenerationEvent, GenerationFailed, MessageEnded
from difychat.server.domain.usage import Price, Usage
from difychat.server.generation.event_queue import EventQueue
from difychat.server.generation.registry import Generation
from difychat.server.observability import context
from difychat.server.observability.logs import JsonFormatter, TextFormatter
from difychat.server.observability.metrics import Metrics, prepare_multiprocess_dir, reap_dead_processes
from difychat.server.observability.turns import QueueSampler, TurnObserver


@pytest.mark.parametrize(
    "raw", [b"a", b"abc-123", b"A.b_c:d-e", b"0" * 128, b"5c3fbd1f-7f0e-4c56-9a1e-7b1a3f6d9e21"]
)
def test_sane_request_ids_are_kept(raw: bytes) -> None:
    assert context.sane_request_id(raw) == raw.decode()


@pytest.mark.parametrize(
    "raw", [b"", b"0" * 129, b"a b", b"a\r\nX-Injected: 1", b"a;b", b'a"b', b"-a", b"\xc3\xa9", b"a/b"]
)
def test_other_request_ids_are_refused(raw: bytes) -> None:
    assert context.sane_request_id(raw) is None


def test_generated_request_ids_are_32_hex_digits_and_differ() -> None:
    ids = {context.new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("broken")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("difychat.test", logging.WARNING, __file__, 1, message, args, exc_info)


def test_a_json_line_carries_the_request_context() -> None:
    token = context.enter("rid-1")
    try:
        context.bind_task("app-1", "task-1")
        line = JsonFormatter().format(_record("hello %s", "world", exc=True))
    finally:
        context.leave(token)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "hello world"
    assert parsed["level"] == "WARNING" and parsed["logger"] == "difychat.test"
    assert (parsed["request_id"], parsed["app_id"], parsed["task_id"]) == ("rid-1", "app-1", "task-1")
    assert "ValueError: broken" in parsed["exception"]
    assert datetime.fromisoformat(parsed["time"].replace("Z", "+00:00")).tzinfo is not None
    # Outside a request, the line has no context keys.
    assert "request_id" not in json.loads(JsonFormatter().format(_record("idle")))


def test_a_text_line_ends_with_the_request_context() -> None:
    token = context.enter("rid-2")
    try:
        context.bind_app("app-2")
        line = TextFormatter().format(_record("hello"))
    finally:
        context.leave(token)
    assert line == "WARNING:  difychat.test: hello [request_id=rid-2 app_id=app-2]"
    assert TextFormatter().format(_record("idle")) == "WARNING:  difychat.test: idle"


def _generation(streaming: bool) -> Generation:
    queue: EventQueue[GenerationEvent | None] | None = EventQueue() if streaming else None
    return Generation(
        task_id=f"task-{streaming}",
        message_id="m",
        conversation_id="c",
        app_id="app-id",
        end_user_id="u",
        created_at=datetime.now(UTC),
        queue=queue,
    )


@pytest.mark.anyio
async def test_a_turn_is_recorded_once_when_it_ends() -> None:
    metrics = Metrics()
    observer = TurnObserver(metrics, lambda app_id: {"app-id": "Support"}[app_id])
    price = Price(Decimal("0.15"), Decimal("0.000001"), "USD")
    usage = Usage(1000, 2000, price, Price(Decimal("0.60"), Decimal("0.000001"), "USD"), 1.5, 0.25, 1.25)
    streamed = _generation(streaming=True)
    observer.started(streamed)
    get = metrics.registry.get_sample_value
    assert get("difychat_chat_turns_in_progress", {"mode": "streaming"}) == 1
    streamed.emit(MessageEnded("answer", usage))
    observer.finished(streamed)

    app = {"app": "Support", "mode": "streaming"}
    assert get("difychat_chat_turns_in_progress", {"mode": "streaming"}) == 0
    assert get("difychat_chat_turns_total", {**app, "status": "normal"}) == 1
    assert get("difychat_chat_time_to_first_token_seconds_sum", app) == 0.25
    assert get("difychat_chat_turn_duration_seconds_count", app) == 1
    assert get("difychat_chat_tokens_total", {"app": "Support", "kind": "prompt"}) == 1000
    assert get("difychat_chat_tokens_total", {"app": "Support", "kind": "completion"}) == 2000
    # 1000 x 0.15 / 1M + 2000 x 0.60 / 1M
    assert get("difychat_chat_cost_total", {"app": "Support", "currency": "USD"}) == pytest.approx(0.00135)

    failed = _generation(streaming=False)
    observer.started(failed)
    failed.emit(GenerationFailed("provider_not_initialize", 400, "no key"))
    observer.finished(failed)
    observer.finished(failed)  # a second report of the same turn changes nothing
    blocking = {"app": "Support", "mode": "blocking"}
    assert get("difychat_chat_turns_total", {**blocking, "status": "error"}) == 1
    assert get("difychat_upstream_errors_total", {"code": "provider_not_initialize"}) == 1
    assert get("difychat_chat_time_to_first_token_seconds_count", blocking) in (None, 0)


def test_queue_depths_are_sampled_by_job_kind() -> None:
    metrics = Metrics()
    jobs = ["title-1", "title-2", "annotation-enable-3"]
    sampler = QueueSampler(metrics, pending_writes=lambda: 7, background_jobs=lambda: jobs)
    sampler.sample()
    get = metrics.registry.get_sample_value
    assert get("difychat_pending_writes") == 7
    assert get("difychat_background_jobs", {"kind": "title"}) == 2
    assert get("difychat_background_jobs", {"kind": "annotation"}) == 1
    jobs.clear()
    sampler.sample()
    assert get("difychat_background_jobs", {"kind": "title"}) == 0


def test_the_multiprocess_directory_starts_empty_and_forgets_dead_processes(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_1.db").write_bytes(b"old run")
    prepare_multiprocess_dir(directory)
    assert not list(directory.iterdir())

    dead = 2**22 + 12345  # above Linux's default pid_max: no such process
    mine = os.getpid()
    for name in (f"gauge_livesum_{dead}.db", f"gauge_livesum_{mine}.db", f"counter_{dead}.db"):
        (directory / name).write_bytes(b"")
    reap_dead_processes(directory)
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [f"counter_{dead}.db", f"gauge_livesum_{mine}.db"]
    )
