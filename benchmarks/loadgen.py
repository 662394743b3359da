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

In a request body, ``{user}`` becomes ``bench-<connection index>`` and
``{conversation}`` the entry of ``conversations`` for that connection (turns
that continue a conversation made beforehand).  With ``stop_cross``, the stop
request goes out on a new connection that a different worker process of the
side accepted than the one serving the stream (found from ``/proc``: the
server end of each loopback connection and the process holding it); up to
``stop_tries`` connections are opened to find one.

Run: ``python -m benchmarks.loadgen --spec spec.json --out result.json``.
Only loopback targets are accepted; every run is bounded by ``requests`` and
by ``duration`` + ``timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
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


def _server_socket_inode(server_port: int, client_port: int) -> int | None:
    """The inode of the server end of the loopback connection from ``client_port``, once accepted."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10:
                continue
            local, remote, inode = fields[1], fields[2], fields[9]
            if (
                int(local.rsplit(":", 1)[1], 16) == server_port
                and int(remote.rsplit(":", 1)[1], 16) == client_port
                and inode != "0"  # still in the accept queue: no process holds it yet
            ):
                return int(inode)
    return None


def _socket_owner(inode: int, pids: list[int]) -> int | None:
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
            except OSError:
                continue
    return None


async def connection_owner(
    server_port: int, client_port: int, pids: list[int], wait: float = 1.0
) -> int | None:
    """Which of ``pids`` serves the connection from ``client_port`` (None when not found in ``wait`` s)."""
    deadline = time.perf_counter() + wait
    while True:
        inode = _server_socket_inode(server_port, client_port)
        if inode is not None:
            owner = _socket_owner(inode, pids)
            if owner is not None:
                return owner
        if time.perf_counter() >= deadline:
            return None
        await asyncio.sleep(0.001)


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

    def local_port(self) -> int | None:
        if self.writer is None:
            return None
        name = self.writer.get_extra_info("sockname")
        return int(name[1]) if name else None

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
        self.conversations: list[str] = list(spec.get("conversations") or [])
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
        self.stop_cross = bool(spec.get("stop_cross"))
        self.stop_tries = int(spec.get("stop_tries", 30))
        self.sut_pid: int | None = (spec.get("watch") or {}).get("sut")
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
        body = self.body_template.replace("{user}", f"bench-{worker}")
        if self.conversations:
            body = body.replace("{conversation}", self.conversations[worker % len(self.conversations)])
        return body.encode()

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
                            stop_task = asyncio.ensure_future(self.send_stop(idx, task_id, rec, conn))
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

    async def _stop_conn(self, stream: Conn, rec: dict[str, Any]) -> Conn:
        """A new connection for the stop; with ``stop_cross``, one that another worker accepted."""
        conn = Conn(self.host, self.port)
        if not self.stop_cross or not self.sut_pid:
            return conn
        pids = procstat.tree(int(self.sut_pid))
        stream_port = stream.local_port()
        stream_owner = (
            await connection_owner(self.port, stream_port, pids) if stream_port is not None else None
        )
        rec["stream_worker"] = stream_owner
        if stream_owner is None or len(pids) < 2:
            return conn
        for attempt in range(1, self.stop_tries + 1):
            await conn.ensure()
            port = conn.local_port()
            owner = await connection_owner(self.port, port, pids) if port is not None else None
            rec["stop_attempts"] = attempt
            rec["stop_worker"] = owner
            if owner is not None and owner != stream_owner:
                rec["crossed"] = True
                return conn
            if attempt < self.stop_tries:
                conn.close()
                conn = Conn(self.host, self.port)
        rec["crossed"] = False
        return conn

    async def send_stop(self, idx: int, task_id: str | None, rec: dict[str, Any], stream: Conn) -> None:
        if not task_id:
            rec["stop_error"] = "no task_id"
            return
        conn = await self._stop_conn(stream, rec)
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
        per_pid = bool(self.spec.get("per_pid")) and "sut" in watch
        pg_db = self.spec.get("watch_pg_db")
        cpu0 = {k: procstat.cpu_seconds(pid) for k, pid in watch.items()}
        loop0 = procstat.main_thread_cpu_seconds(watch["sut"]) if "sut" in watch else None
        backends0 = _pg_backends_cpu(pg_db) if pg_db else {}
        pids0 = _cpu_by_pid(watch["sut"]) if per_pid else {}
        busy0 = _machine_ticks()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        limit = int(self.requests) if self.requests is not None else None
        await self._phase(self.concurrency, limit, float(self.duration) if self.duration else None, True)
        elapsed = time.perf_counter() - self.t_begin
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = {k: procstat.cpu_seconds(pid) - cpu0[k] for k, pid in watch.items()}
        if loop0 is not None:
            # The side's main threads (its event loops) apart from its other threads.
            cpu["sut_loop"] = procstat.main_thread_cpu_seconds(watch["sut"]) - loop0
        if pg_db:
            # Backends that left meanwhile take their time with them (a slight undercount); those
            # that came count from their start.
            backends1 = _pg_backends_cpu(pg_db)
            cpu["postgres"] = sum(v - backends0.get(pid, 0.0) for pid, v in backends1.items())
        busy1 = _machine_ticks()
        extra: dict[str, Any] = {}
        if per_pid:
            pids1 = _cpu_by_pid(watch["sut"])
            extra["sut_cpu_by_pid"] = {str(p): round(v - pids0.get(p, 0.0), 3) for p, v in pids1.items()}
        if busy0 and busy1 and busy1[1] > busy0[1]:
            # Share of all cores' time that was busy (every process on the machine), and the load average.
            extra["machine_busy"] = round((busy1[0] - busy0[0]) / (busy1[1] - busy0[1]), 3)
        extra["loadavg_1m"] = _loadavg()
        for c in self.conns:
            c.close()
        return {
            "spec": self.spec,
            "elapsed": elapsed,
            "loadgen_cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
            "cpu_s": cpu,
            "max_open": self.max_open,
            **extra,
            "records": self.records,
        }


def _cpu_by_pid(pid: int) -> dict[int, float]:
    """CPU seconds of each process of ``pid``'s tree (each on its own, not its children)."""
    out: dict[int, float] = {}
    for p in procstat.tree(pid):
        f = procstat._stat_fields(p)
        if f is not None:
            out[p] = (int(f[11]) + int(f[12])) / procstat._TICKS
    return out


def _pg_backends_cpu(database: str) -> dict[int, float]:
    """CPU seconds of each live PostgreSQL backend serving ``database`` (their titles name it)."""
    out: dict[int, float] = {}
    marker = f" {database} ".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                title = f.read(256)
        except OSError:
            continue
        if title.startswith(b"postgres: ") and marker in title:
            fields = procstat._stat_fields(int(entry))
            if fields is not None:
                out[int(entry)] = (int(fields[11]) + int(fields[12])) / procstat._TICKS
    return out


def _machine_ticks() -> tuple[int, int] | None:
    """(busy, total) clock ticks of all cores since boot, from ``/proc/stat``."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user time
    return total - idle, total


def _loadavg() -> float | None:
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError):
        return None


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
