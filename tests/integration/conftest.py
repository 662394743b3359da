"""The server in-process on a real socket, on SQLite and on PostgreSQL, against the fake upstream."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml

from difychat.server.app import create_app
from difychat.server.settings import Settings
from tests.conftest import missing_service, tls_context
from tests.databases import PostgresDatabases, SqliteDatabases, postgres_available
from tests.fakes.upstream import FakeUpstream

SUPPORT_KEY = "app-supportsupportsupport001"
PLAIN_KEY = "app-plainplainplainplain0001"
DOWN_KEY = "app-downdowndowndowndown0001"
LIMITED_KEY = "app-limitedlimitedlimited001"
AGENT_KEY = "app-agentagentagentagent0001"
OTHER_APP_KEY = "app-otherotherotherother0001"
FILES_KEY = "app-filesfilesfilesfiles0001"
FILES_LOCAL_KEY = "app-fileslocalfileslocal0001"
VOICE_KEY = "app-voicevoicevoicevoice0001"
SPEAKER_KEY = "app-speakerspeakerspeaker001"
MODERATED_KEY = "app-moderatedmoderatedmode01"
EMBEDDED_KEY = "app-embeddedembeddedembed001"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def apps_file(upstream: FakeUpstream) -> dict[str, Any]:
    model = {"provider": "openai", "name": "fake-model", "base_url": upstream.base_url, "api_key": "sk-test"}
    return {
        "apps": [
            {
                "name": "Support Bot",
                "mode": "chat",
                "api_keys": [SUPPORT_KEY],
                "model": {
                    **model,
                    "completion_params": {"temperature": 0.7, "max_tokens": 512},
                    "pricing": {"input": "0.15", "output": "0.60", "unit": "0.000001", "currency": "USD"},
                },
                "pre_prompt": "You help customers of {{company}}.",
                "opening_statement": "Hi {{name}}, how can I help?",
                "suggested_questions": ["What can you do?"],
                "user_input_form": [
                    {
                        "text-input": {
                            "variable": "name",
                            "label": "Name",
                            "required": False,
                            "max_length": 48,
                        }
                    },
                    {
                        "select": {
                            "variable": "company",
                            "label": "Company",
                            "required": True,
                            "options": ["Acme", "Globex"],
                        }
                    },
                    {"number": {"variable": "age", "label": "Age", "required": False}},
                    {"checkbox": {"variable": "vip", "label": "VIP", "required": False}},
                ],
            },
            {"name": "Plain", "api_keys": [PLAIN_KEY], "model": model},
            {"name": "Other", "api_keys": [OTHER_APP_KEY], "model": model},
            {"name": "Agent", "mode": "agent-chat", "api_keys": [AGENT_KEY], "model": model},
            {"name": "Limited", "api_keys": [LIMITED_KEY], "model": model, "max_active_requests": 1},
            {
                "name": "Voice",
                "api_keys": [VOICE_KEY],
                "model": model,
                "speech_to_text": {"enabled": True, "model": "fake-whisper"},
                "text_to_speech": {
                    "enabled": True,
                    "voice": "nova",
                    "language": "en-US",
                    "autoPlay": "disabled",
                    "model": "fake-tts",
                },
            },
            {
                "name": "Speaker",
                "api_keys": [SPEAKER_KEY],
                "model": model,
                "text_to_speech": {"enabled": True, "voice": "echo", "autoPlay": "enabled"},
            },
            {
                "name": "Moderated",
                "api_keys": [MODERATED_KEY],
                "model": model,
                "user_input_form": [
                    {"text-input": {"variable": "topic", "label": "Topic", "required": False}}
                ],
                "sensitive_word_avoidance": {
                    "enabled": True,
                    "type": "keywords",
                    "config": {
                        "keywords": "forbidden\nSecret Plan, contraband",
                        "inputs_config": {"enabled": True, "preset_response": "I can't talk about that."},
                        "outputs_config": {"enabled": True, "preset_response": "[answer removed]"},
                    },
                },
            },
            {
                "name": "Embedded",
                "api_keys": [EMBEDDED_KEY],
                "model": model,
                "embedding_model": {"name": "fake-embedding"},
            },
            {
                "name": "Files",
                "api_keys": [FILES_KEY],
                "model": model,
                "file_upload": {
                    "enabled": True,
                    "image": {
                        "enabled": True,
                        "number_limits": 3,
                        "detail": "low",
                        "transfer_methods": ["remote_url", "local_file"],
                    },
                    "allowed_file_types": ["image", "document"],
                    "allowed_file_extensions": [".dat"],
                    "allowed_file_upload_methods": ["remote_url", "local_file"],
                    "number_limits": 3,
                },
            },
            {
                "name": "Files local only",
                "api_keys": [FILES_LOCAL_KEY],
                "model": model,
                "file_upload": {
                    "enabled": True,
                    "allowed_file_types": ["image", "document", "custom"],
                    "allowed_file_extensions": [],
                    "allowed_file_upload_methods": ["local_file"],
                    "number_limits": 1,
                },
            },
            {
                "name": "Down",
                "api_keys": [DOWN_KEY],
                "model": {**model, "base_url": f"http://127.0.0.1:{closed_port()}/v1"},
            },
        ]
    }


@dataclass
class RunningServer:
    base_url: str
    settings: Settings
    upstream: FakeUpstream

    def client(self, key: str | None = PLAIN_KEY, **kwargs: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        kwargs.setdefault("verify", tls_context())
        return httpx.AsyncClient(base_url=self.base_url + "/v1", headers=headers, timeout=30, **kwargs)


class _Uvicorn(uvicorn.Server):
    """uvicorn's own server, app and lifespan, stopped without waiting on its 0.1 s polls.

    uvicorn checks ``should_exit`` every 0.1 s and sleeps 0.1 s more before it waits, again in
    0.1 s steps, for connections and tasks to end. Here an event ends the main loop at once and
    the same waits poll every few milliseconds; the shutdown does the same things in the same
    order (stop listening, close connections, wait for responses and tasks, lifespan shutdown).
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit = asyncio.Event()

    def stop(self) -> None:
        self.should_exit = True
        self._exit.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Signals belong to the test run: uvicorn would install its SIGINT/SIGTERM handlers while a
        # server runs, and two servers of one test, stopped in the order they started, would leave
        # the first one's handler installed for good (Ctrl-C would then no longer stop the run).
        yield

    async def main_loop(self) -> None:
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        while self.server_state.connections or self.server_state.tasks:
            await asyncio.sleep(0.005)
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()


@pytest.fixture(scope="session")
def sqlite_databases(tmp_path_factory: pytest.TempPathFactory) -> SqliteDatabases:
    databases = SqliteDatabases(tmp_path_factory.mktemp("sqlite"))
    databases.prepare()
    return databases


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases | None]:
    if not asyncio.run(postgres_available()):
        yield None
        return
    databases = PostgresDatabases()
    databases.prepare()
    yield databases
    databases.cleanup()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_databases: SqliteDatabases,
    postgres_databases: PostgresDatabases | None,
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield sqlite_databases.create(tmp_path / "data")
        return
    if postgres_databases is None:
        missing_service("PostgreSQL is not reachable at 127.0.0.1:5432")
        return
    url = await postgres_databases.create()
    yield url
    await postgres_databases.drop(url)


ServerFactory = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
async def make_server(
    database_url: str, tmp_path: Path, upstream: FakeUpstream
) -> AsyncIterator[ServerFactory]:
    """Start a server (several may share one database, like worker processes)."""
    running: list[tuple[_Uvicorn, asyncio.Task[None]]] = []
    config_path = tmp_path / "apps.yaml"
    config_path.write_text(yaml.safe_dump(apps_file(upstream)))

    async def start(**overrides: Any) -> RunningServer:
        settings = Settings(
            data_dir=tmp_path / "data", database_url=database_url, config=config_path, **overrides
        )
        # IPPROTO_TCP named, so that asyncio sets TCP_NODELAY on the accepted connections (it
        # checks the protocol number): else Nagle and delayed ACKs hold every response ~40 ms.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
        server = _Uvicorn(config)
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        running.append((server, task))
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server exited during start-up")
            await asyncio.sleep(0.002)
        return RunningServer(f"http://127.0.0.1:{port}", settings, upstream)

    yield start
    for server, _task in running:
        server.stop()
    for _server, task in running:
        await asyncio.wait_for(task, 30)


@pytest.fixture
async def server(make_server: ServerFactory) -> RunningServer:
    return await make_server()
