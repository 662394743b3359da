"""The worker processes of ``difychat serve --workers N``, each accepting connections of its own.

uvicorn's workers share one listening socket. Whichever worker wakes first accepts every connection
waiting, so connections opened together (a reverse proxy's or load balancer's keep-alive pool, any
client with a connection pool) are often all served by one worker for as long as they live, while the
others idle. On Linux each worker here listens on a socket of its own, bound to the same address with
``SO_REUSEPORT``, and the kernel spreads new connections across the workers' sockets by their
addresses. Elsewhere the workers share one socket, as uvicorn runs them.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.supervisors import multiprocess


def own_sockets_supported() -> bool:
    """Linux balances the sockets of a ``SO_REUSEPORT`` group; other systems may give one of them all."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` that other workers' sockets may share (not listening yet)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


class OwnSocketProcess(multiprocess.Process):
    """A uvicorn worker that listens on a socket of its own instead of the one its supervisor shares."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # runs in the worker
        own = listening_socket(self.config.host, self.config.port)
        for shared in sockets or ():
            shared.close()
        super().target([own])


def run(app: str, **options: Any) -> None:
    """``uvicorn.run(app, workers=N, ...)``, with a listening socket per worker where that balances."""
    if not own_sockets_supported():
        uvicorn.run(app, **options)
        return
    config = uvicorn.Config(app, **options)
    # The supervisor binds nothing: its workers are started (and restarted) as OwnSocketProcess.
    multiprocess.Process = OwnSocketProcess  # type: ignore[misc]
    with contextlib.suppress(KeyboardInterrupt):
        multiprocess.Multiprocess(config, sockets=[]).run()
