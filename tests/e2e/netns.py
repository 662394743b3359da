"""Several difychat hosts on one machine: network namespaces on a bridge, nginx in front.

    root namespace                                   host namespaces
    ───────────────                                  ───────────────
    nginx 127.0.0.1:P ──► bridge 10.211.x.1 ──veth──► 10.211.x.2  difychat serve
                          forwarders on .1:           10.211.x.3  difychat serve
                            → PostgreSQL, Redis, the fake model (all on 127.0.0.1)

The hosts reach the shared PostgreSQL, Redis and model only through the bridge, as hosts of
a real deployment would; nothing leaves the machine. Everything made here is removed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import missing_service


def require_netns() -> None:
    """Skip (or, in CI, fail) when this machine cannot make namespaces or has no nginx."""
    if os.geteuid() != 0:
        missing_service("network namespaces need root")
    for tool in ("ip", "nginx"):
        if shutil.which(tool) is None:
            missing_service(f"{tool} is not installed (Debian: iproute2, nginx)")


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


class Forwarder:
    """TCP relays from addresses on the bridge to services on the root namespace's loopback."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="netns-forwarder", daemon=True)
        self._servers: list[asyncio.Server] = []
        self._thread.start()

    def add(self, listen_host: str, target_port: int) -> int:
        """Relay ``listen_host:<new port>`` to ``127.0.0.1:target_port``; returns the new port."""
        future = asyncio.run_coroutine_threadsafe(self._serve(listen_host, target_port), self._loop)
        return future.result(10)

    async def _serve(self, host: str, target_port: int) -> int:
        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
            except OSError:
                writer.close()
                return
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True)

        server = await asyncio.start_server(relay, host, 0)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    def close(self) -> None:
        async def stop() -> None:
            for server in self._servers:
                server.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@dataclass
class Network:
    """A bridge in the root namespace and one namespace per host, each with an address on it."""

    tag: str
    subnet: int
    hosts: list[str] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"dcbr{self.tag}"

    @property
    def gateway(self) -> str:
        return f"10.211.{self.subnet}.1"

    def address(self, index: int) -> str:
        return f"10.211.{self.subnet}.{index + 2}"

    def namespace(self, index: int) -> str:
        return f"difychat-{self.tag}-{index}"

    def create(self, count: int) -> None:
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for index in range(count):
            ns, outside, inside = self.namespace(index), f"dc{self.tag}h{index}", f"dc{self.tag}n{index}"
            sh("ip", "netns", "add", ns)
            self.hosts.append(ns)
            sh("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
            sh("ip", "link", "set", outside, "master", self.bridge)
            sh("ip", "link", "set", outside, "up")
            sh("ip", "link", "set", inside, "netns", ns)
            sh("ip", "-n", ns, "addr", "add", f"{self.address(index)}/24", "dev", inside)
            sh("ip", "-n", ns, "link", "set", inside, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    def destroy(self) -> None:
        for ns in self.hosts:
            with contextlib.suppress(subprocess.SubprocessError):
                sh("ip", "netns", "del", ns)
        with contextlib.suppress(subprocess.SubprocessError):
            sh("ip", "link", "del", self.bridge)


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream difychat {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 20m;
        location / {{
            proxy_pass http://difychat;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            # Event streams pass through as they are produced.
            proxy_buffering off;
            proxy_read_timeout 300s;
            proxy_connect_timeout 2s;
        }}
    }}
}}
"""


@contextlib.contextmanager
def nginx(root: Path, port: int, upstreams: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    root.mkdir(parents=True, exist_ok=True)
    servers = "\n".join(f"        server {address} max_fails=1 fail_timeout=5s;" for address in upstreams)
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=root, port=port, servers=servers))
    process = subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
