"""What the request observer (request id, HTTP metrics) costs per request, measured in-process.

    python -m benchmarks.middleware_cost [--requests 20000]

Calls the real app's ASGI stack directly (no sockets, no server) for ``GET /health`` with a
dozen request headers, with and without the outermost observer, and prints microseconds per
request. The multiprocess variant runs in a child process with ``PROMETHEUS_MULTIPROC_DIR`` set
before prometheus-client is imported, as ``difychat serve --workers N`` sets it for its workers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.types import ASGIApp, Message

HEADERS = [
    (b"host", b"127.0.0.1:5001"),
    (b"user-agent", b"python-httpx/0.28.1"),
    (b"accept", b"*/*"),
    (b"accept-encoding", b"gzip, deflate"),
    (b"connection", b"keep-alive"),
    (b"authorization", b"Bearer app-plainplainplainplain0001"),
    (b"content-type", b"application/json"),
    (b"x-forwarded-for", b"10.0.0.1"),
    (b"x-forwarded-proto", b"https"),
    (b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    (b"cookie", b"a=b"),
    (b"x-request-id", b"client-given-id-1234"),
]
ROUNDS = 7
SCOPE: dict[str, Any] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.4"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/health",
    "raw_path": b"/health",
    "query_string": b"",
    "root_path": "",
    "headers": HEADERS,
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 5001),
    "state": {},
}


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Message) -> None:
    return None


async def _per_request(app: ASGIApp, requests: int) -> float:
    """One run, in microseconds per request."""
    started = time.perf_counter()
    for _ in range(requests):
        await app(dict(SCOPE), _receive, _send)
    return (time.perf_counter() - started) / requests * 1e6


def _stacks(data_dir: Path) -> dict[str, ASGIApp]:
    from difychat.server.app import create_app
    from difychat.server.settings import Settings

    with_metrics = create_app(Settings(data_dir=data_dir))
    without_metrics = create_app(Settings(data_dir=data_dir, metrics_enabled=False))
    return {
        # Starlette's own stack (error, CORS, version headers, routing), without the observer.
        "no observer": Starlette.build_middleware_stack(with_metrics),
        "request id only": without_metrics.build_middleware_stack(),
        "request id + metrics": with_metrics.build_middleware_stack(),
    }


def measure(requests: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as data_dir:
        stacks = _stacks(Path(data_dir))

        async def run() -> dict[str, float]:
            for app in stacks.values():  # warm up
                await _per_request(app, 1000)
            best = dict.fromkeys(stacks, float("inf"))
            # Interleaved rounds, best of each: a busy machine slows all variants alike.
            for _ in range(ROUNDS):
                for name, app in stacks.items():
                    best[name] = min(best[name], await _per_request(app, requests))
            return best

        return asyncio.run(run())


def _report(title: str, results: dict[str, float]) -> None:
    base = results["no observer"]
    print(title)
    for name, value in results.items():
        print(f"  {name:<24} {value:7.2f} us   (+{value - base:5.2f} us)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.requests)))
        return
    print(f"GET /health, {args.requests} requests per round, best of {ROUNDS}, microseconds per request")
    _report("one process (in-memory values):", measure(args.requests))
    with tempfile.TemporaryDirectory() as metrics_dir:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
        child = [sys.executable, "-m", "benchmarks.middleware_cost", "--child"]
        child += ["--requests", str(args.requests)]
        out = subprocess.run(child, env=env, capture_output=True, text=True, check=True).stdout
    _report("multiprocess mode (values in mmap files, as under --workers N):", json.loads(out))


if __name__ == "__main__":
    main()
