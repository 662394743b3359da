"""CPU time and memory of a process tree, read from /proc (Linux only).

The system under test may fork workers, so every reading covers the process
and all of its live descendants.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _stat_fields(pid: int, thread: int | None = None) -> list[str] | None:
    """The fields of ``pid``'s ``stat`` file (or of its thread ``thread``'s) after the name."""
    raw = _read(f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat")
    if raw is None:
        return None
    # The command name is in parentheses and may contain spaces.
    rest = raw[raw.rfind(")") + 2 :].split()
    return rest  # rest[0] is field 3 (state)


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (all threads' children lists)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        raw = _read(f"/proc/{pid}/task/{tid}/children")
        if raw:
            out.extend(int(x) for x in raw.split())
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and all its live descendants."""
    seen: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        if p in seen or not os.path.exists(f"/proc/{p}"):
            continue
        seen.append(p)
        todo.extend(children_of(p))
    return seen


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its live descendants, in seconds."""
    total = 0
    for p in tree(pid):
        f = _stat_fields(p)
        if f is None:
            continue
        # fields 14 and 15 of /proc/PID/stat: utime, stime (index 11, 12 in rest)
        total += int(f[11]) + int(f[12])
    return total / _TICKS


def main_thread_cpu_seconds(pid: int) -> float:
    """utime + stime of the main thread of ``pid`` and of each live descendant, in seconds: for a
    server, the threads that run its event loops, without its other threads (a database writer's,
    say)."""
    total = 0
    for p in tree(pid):
        f = _stat_fields(p, thread=p)
        if f is not None:
            total += int(f[11]) + int(f[12])
    return total / _TICKS


def _rss_pss_one(pid: int) -> tuple[int, int]:
    rss = pss = 0
    raw = _read(f"/proc/{pid}/smaps_rollup")
    if raw:
        for line in raw.splitlines():
            if line.startswith("Rss:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
        return rss, pss
    raw = _read(f"/proc/{pid}/statm")
    if raw:
        rss = int(raw.split()[1]) * _PAGE
    return rss, rss


@dataclass
class Memory:
    rss: int  # bytes, summed over the tree (shared pages counted per process)
    pss: int  # bytes, proportional set size summed (shared pages split)


def memory(pid: int) -> Memory:
    rss = pss = 0
    for p in tree(pid):
        r, s = _rss_pss_one(p)
        rss += r
        pss += s
    return Memory(rss, pss)


class MemorySampler:
    """Samples a tree's memory in a background thread; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_rss = 0
        self.peak_pss = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            m = memory(self.pid)
            self.peak_rss = max(self.peak_rss, m.rss)
            self.peak_pss = max(self.peak_pss, m.pss)
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def machine_info() -> dict[str, object]:
    info: dict[str, object] = {"cores": os.cpu_count()}
    cpuinfo = _read("/proc/cpuinfo") or ""
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            info["cpu"] = line.split(":", 1)[1].strip()
            break
    meminfo = _read("/proc/meminfo") or ""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            info["mem_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    with contextlib.suppress(AttributeError, OSError):
        info["affinity"] = len(os.sched_getaffinity(0))
    return info
