"""Two difychat hosts (network namespaces) behind nginx on one PostgreSQL and Redis.

A conversation started on one host is continued and stopped through the other, limits
count across both, and killing one host mid-stream leaves nothing stuck while the other
keeps serving.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.conftest import missing_service
from tests.e2e.conftest import PostgresFactory, clean_env, difychat_command, free_port, write_apps
from tests.e2e.helpers import OpenStream, chat_body, messages, wait_for
from tests.e2e.netns import Forwarder, Network, nginx, require_netns
from tests.fakes.upstream import FakeUpstream
from tests.integration.conftest import LIMITED_KEY, PLAIN_KEY

pytestmark = pytest.mark.postgres

PORT = 5001
LEASE = {"DIFYCHAT_HEARTBEAT_SECONDS": "0.2", "DIFYCHAT_LEASE_SECONDS": "2"}
SLOW = [f"w{index:03d} " for index in range(200)]  # 4 s at 20 ms a word


@dataclass
class Host:
    namespace: str
    address: str
    data_dir: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def v1(self) -> str:
        return f"http://{self.address}:{PORT}/v1"

    def client(self, key: str = PLAIN_KEY) -> httpx.Client:
        return httpx.Client(
            base_url=self.v1, headers={"Authorization": f"Bearer {key}"}, timeout=30, trust_env=False
        )

    def start(self, config: Path, env: dict[str, str]) -> None:
        command = [
            "ip",
            "netns",
            "exec",
            self.namespace,
            *difychat_command(),
            "serve",
            "--host",
            self.address,
            "--port",
            str(PORT),
            "--config",
            str(config),
            "--data-dir",
            str(self.data_dir),
        ]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        with httpx.Client(trust_env=False, timeout=2) as probe:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"host {self.namespace} exited:\n{self.log.read_text(errors='replace')}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if probe.get(f"http://{self.address}:{PORT}/health").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"host {self.namespace} did not start:\n{self.log.read_text(errors='replace')}"
                    )
                time.sleep(0.2)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Cluster:
    hosts: list[Host]
    front: str  # nginx

    def client(self, key: str = PLAIN_KEY) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.front}/v1",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
            trust_env=False,
        )


def _redis_available() -> bool:
    try:
        return bool(redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    upstream_server: FakeUpstream,
    postgres_factory: PostgresFactory | None,
) -> Iterator[Cluster]:
    require_netns()
    if postgres_factory is None:
        missing_service("PostgreSQL is not reachable at 127.0.0.1:5432")
    if not _redis_available():
        missing_service("Redis is not reachable at 127.0.0.1:6379")
    assert postgres_factory is not None
    root = tmp_path_factory.mktemp("cluster")
    tag = f"{os.getpid() % 10000}"
    network = Network(tag=tag, subnet=100 + os.getpid() % 100)
    forwarder = Forwarder()
    hosts: list[Host] = []
    try:
        network.create(2)
        gateway = network.gateway
        pg_port = forwarder.add(gateway, 5432)
        redis_port = forwarder.add(gateway, 6379)
        model_port = forwarder.add(gateway, upstream_server.port)
        database = postgres_factory.create().replace("127.0.0.1:5432", f"{gateway}:{pg_port}")
        model_url = f"http://{gateway}:{model_port}/v1"

        def through_bridge(document: dict[str, Any]) -> None:
            for app in document["apps"]:
                if app.get("model", {}).get("base_url") == upstream_server.base_url:
                    app["model"]["base_url"] = model_url

        config = write_apps(root / "apps.yaml", upstream_server, through_bridge)
        env = clean_env(
            DIFYCHAT_DATABASE_URL=database,
            DIFYCHAT_REDIS_URL=f"redis://{gateway}:{redis_port}/0",
            DIFYCHAT_SECRET_KEY="one-secret-for-every-host",
            **LEASE,
        )
        for index in range(2):
            host = Host(
                network.namespace(index),
                network.address(index),
                root / f"host{index}",
                root / f"host{index}.log",
            )
            hosts.append(host)
            host.start(config, env)
        port = free_port()
        with nginx(root / "nginx", port, [f"{h.address}:{PORT}" for h in hosts]):
            yield Cluster(hosts, f"http://127.0.0.1:{port}")
    finally:
        for host in hosts:
            host.stop()
        forwarder.close()
        network.destroy()


def test_a_conversation_moves_between_hosts_and_is_stopped_through_the_other(
    cluster: Cluster, upstream: FakeUpstream
) -> None:
    first, second = cluster.hosts
    with first.client() as a, second.client() as b:
        started = a.post("/chat-messages", json=chat_body("hello", user="roamer"))
        assert started.status_code == 200, started.text
        conversation_id = started.json()["conversation_id"]
        again = b.post(
            "/chat-messages", json=chat_body("and again", user="roamer", conversation_id=conversation_id)
        )
        assert again.status_code == 200, again.text
        assert [m["query"] for m in messages(b, conversation_id, user="roamer")] == ["hello", "and again"]

        upstream.behaviour.chunks = SLOW
        upstream.behaviour.gap = 0.02
        with a.stream(
            "POST",
            "/chat-messages",
            json=chat_body("long", user="roamer", mode="streaming", conversation_id=conversation_id),
        ) as response:
            stream = OpenStream(response)
            task_id = stream.next_data()["task_id"]
            asked = time.monotonic()
            stopped = b.post(f"/chat-messages/{task_id}/stop", json={"user": "roamer"})
            assert stopped.status_code == 200
            frames = stream.rest()
            took = time.monotonic() - asked
        assert frames[-1].event == "message_end" and took < 2.0
        (last,) = messages(b, conversation_id, user="roamer")[-1:]
    assert 0 < len(last["answer"]) < len("".join(SLOW))


def test_the_per_app_limit_counts_requests_on_every_host(cluster: Cluster, upstream: FakeUpstream) -> None:
    first, second = cluster.hosts
    upstream.behaviour.chunks = SLOW[:60]
    upstream.behaviour.gap = 0.02
    with first.client(LIMITED_KEY) as a, second.client(LIMITED_KEY) as b:
        with a.stream(
            "POST", "/chat-messages", json=chat_body("one", user="limited", mode="streaming")
        ) as held:
            opened = OpenStream(held)
            opened.next_data()
            refused = b.post("/chat-messages", json=chat_body("two", user="limited"))
            assert refused.status_code == 429, refused.text
            assert refused.json()["code"] == "too_many_requests"
            opened.rest()
        # Once the first answer has ended, its slot is free on every host.
        upstream.behaviour.chunks = ["ok"]
        upstream.behaviour.gap = 0.0
        assert wait_for(
            lambda: b.post("/chat-messages", json=chat_body("three", user="limited")).status_code == 200,
            timeout=10,
        )


def test_killing_a_host_mid_stream_leaves_nothing_stuck_and_the_other_serves(
    cluster: Cluster, upstream: FakeUpstream
) -> None:
    doomed, survivor = cluster.hosts
    upstream.behaviour.chunks = SLOW
    upstream.behaviour.gap = 0.02
    with (
        doomed.client() as a,
        contextlib.suppress(httpx.TransportError),
        a.stream(
            "POST", "/chat-messages", json=chat_body("doomed", user="victim", mode="streaming")
        ) as response,
    ):
        stream = OpenStream(response)
        conversation_id = stream.next_data()["conversation_id"]
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            stream.next_data()
        doomed.kill()
        stream.rest()

    upstream.behaviour.chunks = ["still", " here"]
    upstream.behaviour.gap = 0.0
    with cluster.client() as front:
        # nginx finds the dead host refusing connections and sends every request to the survivor.
        for _ in range(4):
            served = front.post("/chat-messages", json=chat_body("anyone?", user="after"))
            assert served.status_code == 200, served.text
    with survivor.client() as b:

        def ended() -> dict[str, Any] | None:
            (message,) = messages(b, conversation_id, user="victim")
            return message if message["status"] == "error" else None

        message = wait_for(ended, timeout=15)
    assert "interrupted" in message["error"] and message["answer"]
