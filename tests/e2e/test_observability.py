"""``difychat serve --workers 2``: /metrics sums both workers, and the log lines are JSON."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import Launcher, ServerProcess, make_database
from tests.e2e.helpers import wait_for
from tests.integration.conftest import DOWN_KEY, PLAIN_KEY
from tests.prometheus import Scrape

PARAMETERS = {"method": "GET", "route": "/v1/parameters", "status": "200"}
PLAIN_TURNS = {"app": "Plain", "mode": "blocking", "status": "normal"}
MAX_REQUESTS = 400


def _scrape(server: ServerProcess) -> Scrape:
    # A new connection each time: the kernel hands it to either worker.
    with httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as client:
        response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return Scrape(response.text)


def _recording_pids(directory: Path) -> set[str]:
    """The processes that have counted something (prometheus-client writes counter_<pid>.db)."""
    return {path.stem.rsplit("_", 1)[-1] for path in directory.glob("counter_*.db")}


def _chat(server: ServerProcess, key: str = PLAIN_KEY, **headers: str) -> httpx.Response:
    body: dict[str, Any] = {"inputs": {}, "query": "hi", "user": "metrics", "response_mode": "blocking"}
    with server.client(key) as client:
        return client.post("/chat-messages", json=body, headers=headers)


def test_metrics_are_the_sum_over_both_workers_and_logs_are_json(launcher: Launcher, tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    # A previous run's files must not be counted again.
    (metrics_dir / "counter_99999.db").write_bytes(b"left over")
    server = launcher.new(
        make_database("sqlite", None),
        workers=2,
        env={"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "DIFYCHAT_LOG_FORMAT": "json"},
    )
    assert not (metrics_dir / "counter_99999.db").exists()

    # Requests on new connections, several at once (a lone connection may always wake the same
    # worker), until both workers have answered some.
    def one() -> int:
        with server.client() as client:
            return client.get("/parameters").status_code

    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        while len(_recording_pids(metrics_dir)) < 2:
            assert sent < MAX_REQUESTS, "one worker answered every request"
            assert list(pool.map(lambda _: one(), range(8))) == [200] * 8
            sent += 8
    sent_extra = 10
    for _ in range(sent_extra):
        with server.client() as client:
            assert client.get("/parameters").status_code == 200
    sent += sent_extra
    chats = 6
    for _ in range(chats):
        assert _chat(server).status_code == 200

    def settled() -> bool:
        return (
            _scrape(server).value("difychat_chat_turns_total", app="Plain", mode="blocking", status="normal")
            == chats
        )

    assert wait_for(settled, timeout=10)
    # Whichever worker answers the scrape, it reads the total of both.
    for _ in range(10):
        found = _scrape(server)
        assert found.value("difychat_http_requests_total", **PARAMETERS) == sent
        assert (
            found.value("difychat_chat_turns_total", app="Plain", mode="blocking", status="normal") == chats
        )
        assert found.value("difychat_active_streams") == 0
        assert found.value("difychat_chat_turns_in_progress", mode="blocking") == 0

    # A failing upstream, traced by the client's request id through the JSON log.
    failed = _chat(server, DOWN_KEY, **{"X-Request-Id": "trace-e2e-1"})
    assert failed.status_code == 400 and failed.headers["x-request-id"] == "trace-e2e-1"

    def logged() -> bool:
        return "trace-e2e-1" in server.output()

    assert wait_for(logged, timeout=10)
    assert _scrape(server).value("difychat_upstream_errors_total", code="completion_request_error") == 1

    server.stop()
    lines = [line for line in server.output().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys()
    traced = [r for r in records if r.get("request_id") == "trace-e2e-1"]
    assert traced and traced[0]["logger"] == "difychat.turns" and traced[0]["task_id"]
    assert any("Application startup complete" in r["message"] for r in records)
    assert DOWN_KEY not in server.output()
    # Workers that shut down cleanly leave no live gauges behind; their counters stay.
    assert not list(metrics_dir.glob("gauge_live*_*.db"))
    assert len(_recording_pids(metrics_dir)) >= 2
