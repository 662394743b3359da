"""The load generator: a raw asyncio HTTP/1.1 client, run in its own process.

It holds ``concurrency`` connections, each a closed loop of requests (keep-alive),
parses Server-Sent Events, and records per request: time to first text event,
the gaps between text events, total time, the HTTP status and any error.

Protocols:

* ``dify``: text events are ``"event":"message"`` (or ``message_file`` /
  ``agent_message`` carrying an answer); ``message_end`` ends the stream;
  ``error`` fails it; ``event: ping`` is ignored;
* ``openai``: text events are chunks with a non-empty ``delta.content``;
  ``data: [DONE]`` ends the stream.

Modes: ``stream`` (SSE), ``block`` (one JSON body; "first token" = whole body),
``stop`` (dify: stream, send a stop request after ``stop_after`` text events,
and time from the stop request to ``message_end``), ``get`` (plain requests,
e.g. history pages; ``paths`` is rotated over).

Run: ``python -m benchmarks.loadgen --spec spec.json --out result.json``.
Only loopback targets are accepted; every run is bounded by ``requests`` and
by ``duration`` + ``timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import time
from collections.abc import Callable
from typing import Any

from benchmarks import _loop, procstat

LOOPBACK = ("127.0.0.1", "localhost", "::1")

_loads: Callable[[bytes], Any]
try:  # orjson is optional; only used where a payload must really be parsed
    import orjson

    _loads = orjson.loads
except ImportError:  # pragma: no cover
    _loads = json.loads


class RequestFailed(Exception):
    pass


def _event_kind(payload: bytes, protocol: str) -> str:
    """Classify one SSE data payload cheaply, without a full JSON parse.

    Returns ``text``, ``end``, ``error`` or ``other``.
    """
    if protocol == "openai":
        if payload.startswith(b"[DONE]"):
            return "end"
        i = payload.find(b'"content":"')
        if i >= 0 and payload[i + 11 : i + 12] != b'"':
            return "text"
        if payload.startswith(b'{"error"'):
            return "error"
        return "other"
    i = payload.find(b'"event":"')
    if i < 0:
        return "other"
    j = payload.find(b'"', i + 9)
    ev = payload[i + 9 : j]
    if ev in (b"message", b"agent_message"):
        return "text"
    if ev == b"message_file":
        return "text" if b'"answer":' in payload else "other"
    if ev == b"message_end":
        return "end"
    if ev == b"error":
        return "error"
    return "other"


class Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def ensure(self) -> None:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 22)

    def close(self) -> None:
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.close()
        self.reader = self.writer = None

    async def send(self, method: str, path: str, headers: bytes, body: bytes) -> None:
        await self.ensure()
        assert self.writer is not None
        self.writer.write(
            b"%s %s HTTP/1.1\r\nhost: %s:%d\r\n%scontent-length: %d\r\n\r\n%s"
            % (method.encode(), path.encode(), self.host.encode(), self.port, headers, len(body), body)
        )
        await self.writer.drain()

    async def read_head(self) -> tuple[int, dict[bytes, bytes]]:
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        hdrs: dict[bytes, bytes] = {}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(b":")
                hdrs[k.strip().lower()] = v.strip()
        return status, hdrs

    async def iter_body(self, hdrs: dict[bytes, bytes]):  # type: ignore[no-untyped-def]
        """Yield body pieces as they arrive; leaves the connection reusable."""
        r = self.reader
        assert r is not None
        if hdrs.get(b"transfer-encoding", b"").lower() == b"chunked":
            while True:
                size_line = await r.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while (await r.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    break
                data = await r.readexactly(size + 2)
                yield data[:-2]
        elif b"content-length" in hdrs:
            n = int(hdrs[b"content-length"])
            if n:
                yield await r.readexactly(n)
        else:
            while True:
                data = await r.read(65536)
                if not data:
                    break
                yield data
            self.close()
            return
        if hdrs.get(b"connection", b"").lower() == b"close":
            self.close()


class LoadGen:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.host: str = spec.get("host", "127.0.0.1")
        if self.host not in LOOPBACK:
            raise SystemExit("load generator targets loopback only")
        self.port: int = int(spec["port"])
        self.protocol: str = spec.get("protocol", "openai")
        self.mode: str = spec.get("mode", "stream")
        self.method: str = spec.get("method", "POST")
        self.paths: list[str] = spec.get("paths") or [spec.get("path", "/v1/chat/completions")]
        hdrs = dict(spec.get("headers") or {})
        if self.method == "POST":
            hdrs.setdefault("content-type", "application/json")
        self.headers = b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in hdrs.items())
        self.body_template = json.dumps(spec.get("body") or {}) if self.method == "POST" else ""
        self.concurrency = int(spec.get("concurrency", 1))
        self.requests = spec.get("requests")  # total count, or None
        self.duration = spec.get("duration")  # seconds, or None
        if self.requests is None and self.duration is None:
            raise SystemExit("spec needs requests or duration")
        self.timeout = float(spec.get("timeout", 60.0))
        self.ramp = float(spec.get("ramp", 0.0))
        self.warmup = int(spec.get("warmup", 0))
        self.stop_after = int(spec.get("stop_after", 2))
        self.stop_path = spec.get("stop_path", "/v1/chat-messages/{task_id}/stop")
        self.records: list[dict[str, Any]] = []
        self.limit: int | None = None
        self.recording = False
        self.deadline: float | None = None
        self.t_begin = 0.0
        self.issued = 0
        self.open_now = 0
        self.max_open = 0

    def _take(self) -> bool:
        if self.limit is not None and self.issued >= self.limit:
            return False
        if self.deadline is not None and time.perf_counter() >= self.deadline:
            return False
        self.issued += 1
        return True

    def _body(self, worker: int) -> bytes:
        return self.body_template.replace("{user}", f"bench-{worker}").encode()

    async def worker(self, idx: int) -> None:
        if self.ramp and self.concurrency > 1:
            await asyncio.sleep(self.ramp * idx / self.concurrency)
        conn = self.conns[idx]
        n = 0
        while self._take():
            path = self.paths[(idx + n) % len(self.paths)]
            n += 1
            rec: dict[str, Any] = {"ok": False, "status": 0, "error": None}
            t0 = time.perf_counter()
            rec["start"] = t0 - self.t_begin
            self.open_now += 1
            self.max_open = max(self.max_open, self.open_now)
            try:
                await asyncio.wait_for(self.one(conn, idx, path, rec, t0), self.timeout)
            except TimeoutError:
                rec["error"] = "timeout"
                conn.close()
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
                rec["error"] = f"{type(e).__name__}: {e}"[:200]
                conn.close()
            except RequestFailed as e:
                rec["error"] = str(e)[:200]
                conn.close()
            finally:
                self.open_now -= 1
            rec["total"] = time.perf_counter() - t0
            if self.recording:
                self.records.append(rec)

    async def one(self, conn: Conn, idx: int, path: str, rec: dict[str, Any], t0: float) -> None:
        await conn.send(self.method, path, self.headers, self._body(idx))
        status, hdrs = await conn.read_head()
        rec["status"] = status
        if self.mode in ("block", "get") or status != 200:
            body = b"".join([piece async for piece in conn.iter_body(hdrs)])
            rec["ttft"] = time.perf_counter() - t0
            rec["bytes"] = len(body)
            if status != 200:
                raise RequestFailed(f"HTTP {status}: {body[:150]!r}")
            rec["ok"] = True
            return
        await self.read_stream(conn, hdrs, idx, rec, t0)

    async def read_stream(
        self, conn: Conn, hdrs: dict[bytes, bytes], idx: int, rec: dict[str, Any], t0: float
    ) -> None:
        protocol = self.protocol
        buf = b""
        last = None
        gaps: list[float] = []
        ntext = 0
        ended = False
        stop_task: asyncio.Task[None] | None = None
        async for piece in conn.iter_body(hdrs):
            now = time.perf_counter()
            buf += piece
            if b"\r" in buf:
                buf = buf.replace(b"\r\n", b"\n")
            while True:
                k = buf.find(b"\n\n")
                if k < 0:
                    break
                block, buf = buf[:k], buf[k + 2 :]
                for line in block.split(b"\n"):
                    if not line.startswith(b"data:"):
                        continue  # event: ping, comments
                    payload = line[5:].lstrip()
                    kind = _event_kind(payload, protocol)
                    if kind == "text":
                        ntext += 1
                        if last is None:
                            rec["ttft"] = now - t0
                        else:
                            gaps.append(now - last)
                        last = now
                        if self.mode == "stop" and ntext == self.stop_after and stop_task is None:
                            task_id = _loads(payload).get("task_id")
                            stop_task = asyncio.ensure_future(self.send_stop(idx, task_id, rec))
                    elif kind == "end":
                        ended = True
                        rec["end_at"] = now
                    elif kind == "error":
                        raise RequestFailed(f"error event: {payload[:150]!r}")
        rec["events"] = ntext
        rec["gaps"] = gaps
        if self.mode == "stop":
            if stop_task is None:
                raise RequestFailed("stream ended before a stop was sent")
            await stop_task
            if ended and "stop_sent" in rec:
                rec["stop_to_end"] = rec["end_at"] - rec["stop_sent"]
            rec.pop("stop_sent", None)
        rec.pop("end_at", None)
        if not ended:
            raise RequestFailed("stream ended without its final event")
        rec["ok"] = True

    async def send_stop(self, idx: int, task_id: str | None, rec: dict[str, Any]) -> None:
        if not task_id:
            rec["stop_error"] = "no task_id"
            return
        conn = Conn(self.host, self.port)
        try:
            t = time.perf_counter()
            rec["stop_sent"] = t
            await conn.send(
                "POST",
                self.stop_path.format(task_id=task_id),
                self.headers,
                json.dumps({"user": f"bench-{idx}"}).encode(),
            )
            status, hdrs = await conn.read_head()
            async for _ in conn.iter_body(hdrs):
                pass
            rec["stop_status"] = status
            rec["stop_response"] = time.perf_counter() - t
        except (OSError, asyncio.IncompleteReadError) as e:
            rec["stop_error"] = str(e)[:200]
        finally:
            conn.close()

    async def _phase(self, workers: int, limit: int | None, duration: float | None, record: bool) -> None:
        self.limit, self.issued, self.recording = limit, 0, record
        self.t_begin = time.perf_counter()
        self.deadline = self.t_begin + duration if duration is not None else None
        tasks = [asyncio.ensure_future(self.worker(i)) for i in range(workers)]
        hard = (duration or 0.0) + self.ramp + self.timeout * 2 + 30.0
        _, pending = await asyncio.wait(tasks, timeout=hard)
        for t in pending:
            t.cancel()

    async def run(self) -> dict[str, Any]:
        self.conns = [Conn(self.host, self.port) for _ in range(self.concurrency)]
        if self.warmup:
            # Not recorded, not timed: first-request costs (imports, pools, caches) stay out.
            ramp, self.ramp = self.ramp, 0.0
            await self._phase(min(self.concurrency, self.warmup), self.warmup, None, False)
            self.ramp = ramp
            self.max_open = 0
        watch = {k: int(v) for k, v in (self.spec.get("watch") or {}).items() if v}
        cpu0 = {k: procstat.cpu_seconds(pid) for k, pid in watch.items()}
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        limit = int(self.requests) if self.requests is not None else None
        await self._phase(self.concurrency, limit, float(self.duration) if self.duration else None, True)
        elapsed = time.perf_counter() - self.t_begin
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = {k: procstat.cpu_seconds(pid) - cpu0[k] for k, pid in watch.items()}
        for c in self.conns:
            c.close()
        return {
            "spec": self.spec,
            "elapsed": elapsed,
            "loadgen_cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
            "cpu_s": cpu,
            "max_open": self.max_open,
            "records": self.records,
        }


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="difychat benchmark load generator")
    ap.add_argument("--spec", required=True, help="JSON file (or inline JSON) describing the load")
    ap.add_argument("--out", required=True, help="where to write the JSON result")
    a = ap.parse_args(argv)
    if a.spec.lstrip().startswith("{"):
        spec_text = a.spec
    else:
        with open(a.spec) as f:
            spec_text = f.read()
    spec = json.loads(spec_text)
    _raise_nofile()
    result = _loop.run(LoadGen(spec).run())
    with open(a.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
