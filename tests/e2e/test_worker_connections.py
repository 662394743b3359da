"""``difychat serve --workers 2`` spreads connections opened together over its workers.

A reverse proxy or any client with a connection pool opens its keep-alive connections together and
keeps them: each worker must get a share, or one worker serves everything while the other idles.
Which process serves a connection is read from Linux's /proc (the server end's socket, and the
process that holds it).
"""

from __future__ import annotations

import http.client
import os
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.conftest import ServerProcess

CONNECTIONS = 24


def _worker_pids(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    if not path.exists():
        pytest.skip("needs /proc to see worker processes")
    children = [int(child) for child in path.read_text().split()]
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def _server_socket_inode(server_port: int, client_port: int) -> int | None:
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if (
            int(local.rsplit(":", 1)[1], 16) == server_port
            and int(remote.rsplit(":", 1)[1], 16) == client_port
            and inode != "0"
        ):
            return int(inode)
    return None


def _holder(inode: int, pids: list[int]) -> int | None:
    target = f"socket:[{inode}]"
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
            except OSError:
                continue
    return None


def test_connections_opened_together_are_spread_over_the_workers(served_two_workers: ServerProcess) -> None:
    assert served_two_workers.process is not None
    workers = _worker_pids(served_two_workers.process.pid)
    assert len(workers) == 2, workers
    conns = [
        http.client.HTTPConnection("127.0.0.1", served_two_workers.port, timeout=10)
        for _ in range(CONNECTIONS)
    ]
    try:
        for conn in conns:  # every connection is open before any request is sent
            conn.connect()
        for conn in conns:
            conn.request("GET", "/health")
        holders: Counter[int | None] = Counter()
        for conn in conns:
            response = conn.getresponse()
            response.read()
            assert response.status == 200
            # Answered over this connection: a worker has accepted it and still holds it (keep-alive).
            assert conn.sock is not None
            inode = _server_socket_inode(served_two_workers.port, conn.sock.getsockname()[1])
            holders[_holder(inode, workers) if inode is not None else None] += 1
    finally:
        for conn in conns:
            conn.close()
    assert None not in holders, holders
    assert set(holders) == set(workers), holders
