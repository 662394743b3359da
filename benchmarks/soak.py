"""Soak: mixed traffic for a long time against one ``difychat serve``, its memory sampled.

Each of ``--clients`` loops picks, at random with fixed weights, one of the things real
clients do, including the unkind ones: blocking and streaming chats, follow-ups in the
same conversation, history pages, feedback and renames, a stop in the middle of a stream,
a client that disconnects mid-stream, and a client that stops reading without leaving.
The server's resident memory (its process tree) is sampled every ``--sample`` seconds.
Memory is flat when the last fifth of the run holds no more than the second fifth (after
warm-up) plus a small margin; the slope over the run is reported too.

    python -m benchmarks.soak --minutes 30                 # SQLite (results/soak.md)
    python -m benchmarks.soak --minutes 30 --postgres      # PostgreSQL
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks import procstat, services

KINDS = {
    "blocking": 30,
    "streaming": 25,
    "follow_up": 12,
    "history": 12,
    "feedback_rename": 6,
    "stop": 5,
    "disconnect": 5,
    "stalled": 5,
}


@dataclass
class Tally:
    done: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str, user: str) -> None:
        self.session = session
        self.base = base
        self.user = user
        self.conversations: list[str] = []
        self.messages: list[str] = []

    async def chat(self, mode: str, conversation_id: str | None = None) -> dict[str, Any]:
        body = {"query": "tell me something", "inputs": {}, "user": self.user, "response_mode": mode}
        if conversation_id:
            body["conversation_id"] = conversation_id
        async with self.session.post(f"{self.base}/chat-messages", json=body) as response:
            response.raise_for_status()
            if mode == "blocking":
                data: dict[str, Any] = await response.json()
            else:
                data = {}
                async for line in response.content:
                    if line.startswith(b"data: ") and not data:
                        data = json.loads(line[6:])
        self._remember(data)
        return data

    def _remember(self, data: dict[str, Any]) -> None:
        if data.get("conversation_id"):
            self.conversations = [data["conversation_id"], *self.conversations][:20]
        if data.get("message_id"):
            self.messages = [data["message_id"], *self.messages][:20]

    async def do(self, kind: str) -> None:
        if kind == "blocking":
            await self.chat("blocking")
        elif kind == "streaming":
            await self.chat("streaming")
        elif kind == "follow_up":
            await self.chat("blocking", random.choice(self.conversations) if self.conversations else None)
        elif kind == "history":
            params = {"user": self.user, "limit": "20"}
            async with self.session.get(f"{self.base}/conversations", params=params) as r:
                r.raise_for_status()
            if self.conversations:
                params["conversation_id"] = random.choice(self.conversations)
                async with self.session.get(f"{self.base}/messages", params=params) as r:
                    r.raise_for_status()
        elif kind == "feedback_rename":
            if self.messages:
                body = {"rating": random.choice(["like", "dislike"]), "user": self.user, "content": "soak"}
                async with self.session.post(
                    f"{self.base}/messages/{self.messages[0]}/feedbacks", json=body
                ) as r:
                    r.raise_for_status()
            if self.conversations:
                body = {"name": f"soak {random.randint(0, 999)}", "user": self.user}
                async with self.session.post(
                    f"{self.base}/conversations/{self.conversations[0]}/name", json=body
                ) as r:
                    r.raise_for_status()
        elif kind in ("stop", "disconnect"):
            await self._cut_stream(stop=kind == "stop")
        elif kind == "stalled":
            await self._stall()

    async def _cut_stream(self, *, stop: bool) -> None:
        body = {"query": "a long one", "inputs": {}, "user": self.user, "response_mode": "streaming"}
        async with self.session.post(f"{self.base}/chat-messages", json=body) as response:
            response.raise_for_status()
            first = json.loads((await response.content.readuntil(b"\n\n"))[6:])
            self._remember(first)
            if stop:
                async with self.session.post(
                    f"{self.base}/chat-messages/{first['task_id']}/stop", json={"user": self.user}
                ) as r:
                    r.raise_for_status()
                async for _ in response.content:
                    pass
            # else: leave with the stream half read (the connection closes here)

    async def _stall(self) -> None:
        """Send a streaming request, then read nothing for a while and leave."""
        host, port = self.base.removeprefix("http://").split("/")[0].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        body = json.dumps(
            {"query": "stall", "inputs": {}, "user": self.user, "response_mode": "streaming"}
        ).encode()
        writer.write(
            (
                f"POST /v1/chat-messages HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {services.API_KEY}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        await writer.drain()
        await asyncio.sleep(random.uniform(2, 6))
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def drive(base: str, clients: int, seconds: float, tally: Tally) -> None:
    headers = {"Authorization": f"Bearer {services.API_KEY}"}
    timeout = aiohttp.ClientTimeout(total=120)
    kinds, weights = list(KINDS), list(KINDS.values())
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        deadline = time.monotonic() + seconds

        async def loop(index: int) -> None:
            client = Client(session, base, f"soak-{index}")
            while time.monotonic() < deadline:
                kind = random.choices(kinds, weights)[0]
                try:
                    await client.do(kind)
                    tally.done[kind] += 1
                except (aiohttp.ClientError, OSError, TimeoutError, ValueError, KeyError):
                    tally.errors[kind] += 1

        await asyncio.gather(*(loop(i) for i in range(clients)))


def _slope_kb_per_minute(samples: list[tuple[float, int]]) -> float:
    n = len(samples)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    cov = sum((t - mean_t) * (m - mean_m) for t, m in samples)
    var = sum((t - mean_t) ** 2 for t, _ in samples) or 1.0
    return cov / var / 1024 * 60


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between memory samples")
    parser.add_argument("--postgres", action="store_true", help="run difychat on PostgreSQL")
    parser.add_argument("--out", type=Path, default=services.REPO / "benchmarks" / "results")
    parser.add_argument("--work-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    work = args.work_dir or services.REPO / "benchmarks" / ".work" / f"soak-{time.strftime('%Y%m%d-%H%M%S')}"
    work.mkdir(parents=True, exist_ok=True)
    seconds = args.minutes * 60
    database_url, pg_name = (None, None)
    if args.postgres:
        pg_name, database_url = services.pg_create("soak")
    upstream = services.upstream_service(work, tokens=32, ttft_ms=20, gap_ms=5).start()
    server = services.difychat_service(work, "difychat", upstream.port, database_url=database_url).start()
    samples: list[tuple[float, int]] = []
    tally = Tally()
    started = time.monotonic()
    try:

        async def run() -> None:
            async def sample() -> None:
                while True:
                    samples.append((time.monotonic() - started, server.memory().rss))
                    await asyncio.sleep(args.sample)

            sampler = asyncio.create_task(sample())
            try:
                await drive(f"http://127.0.0.1:{server.port}/v1", args.clients, seconds, tally)
            finally:
                sampler.cancel()
            samples.append((time.monotonic() - started, server.memory().rss))

        asyncio.run(run())
    finally:
        server.stop()
        upstream.stop()
        if pg_name:
            services.pg_drop(pg_name)
    report(args, samples, tally, "postgres" if args.postgres else "sqlite")
    return 0


def report(args: argparse.Namespace, samples: list[tuple[float, int]], tally: Tally, database: str) -> None:
    fifth = max(1, len(samples) // 5)
    warm = samples[fifth : 2 * fifth] or samples
    last = samples[-fifth:]
    warm_mb = sum(m for _, m in warm) / len(warm) / 2**20
    last_mb = sum(m for _, m in last) / len(last) / 2**20
    peak_mb = max(m for _, m in samples) / 2**20
    slope = _slope_kb_per_minute(samples[fifth:])
    requests = sum(tally.done.values())
    result = {
        "database": database,
        "minutes": args.minutes,
        "clients": args.clients,
        "requests": requests,
        "done": tally.done,
        "errors": tally.errors,
        "rss_mb_after_warm_up": round(warm_mb, 1),
        "rss_mb_last_fifth": round(last_mb, 1),
        "rss_mb_peak": round(peak_mb, 1),
        "slope_kb_per_minute_after_warm_up": round(slope, 1),
        "samples": [(round(t, 1), m) for t, m in samples],
        "machine": procstat.machine_info(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"soak-{database}"
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=1))
    lines = [
        f"# Soak: {args.minutes:g} minutes of mixed traffic on {database}",
        "",
        f"- Command: `python -m benchmarks.soak --minutes {args.minutes:g} --clients {args.clients}"
        + (" --postgres`" if database == "postgres" else "`"),
        f"- Requests: {requests:,} ({', '.join(f'{k} {v:,}' for k, v in tally.done.items())})",
        f"- Errors: {sum(tally.errors.values())} "
        f"({', '.join(f'{k} {v}' for k, v in tally.errors.items() if v)})",
        "",
        "| RSS after warm-up (2nd fifth, mean) | RSS last fifth (mean) | peak | slope after warm-up |",
        "|---|---|---|---|",
        f"| {warm_mb:.1f} MB | {last_mb:.1f} MB | {peak_mb:.1f} MB | {slope:+.1f} KB/min |",
        "",
        "Samples (minutes → MB): "
        + ", ".join(f"{t / 60:.0f}→{m / 2**20:.0f}" for t, m in samples[:: max(1, len(samples) // 30)]),
        "",
    ]
    (args.out / f"{stem}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
