"""The server in-process on a real socket, on SQLite and on PostgreSQL, against the fake upstream."""

from __future__ import annotations

import asyncio
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
from tests.conftest import missing_service
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
                    {"text-input": {"variable": "name", "label": "Name", "required": False, "max_length": 48}},
                    {"select": {"variable": "company", "label": "Company", "required": True,
                                "options": ["Acme", "Globex"]}},
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
                "text_to_speech": {"enabled": True, "voice": "nova", "language": "en-US", "autoPlay": "disabled",
                                   "model": "fake-tts"},
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
                "user_input_form": [{"text-input": {"variable": "topic", "label": "Topic", "required": False}}],
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
            {"name": "Embedded", "api_keys": [EMBEDDED_KEY], "model": model,
             "embedding_model": {"name": "fake-embedding"}},
            {
                "name": "Files",
                "api_keys": [FILES_KEY],
                "model": model,
                "file_upload": {
                    "enabled": True,
                    "image": {"enabled": True, "number_limits": 3, "detail": "low",
                              "transfer_methods": ["remote_url", "local_file"]},
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
        return httpx.AsyncClient(base_url=self.base_url + "/v1", headers=headers, timeout=30, **kwargs)


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
    running: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []
    config_path = tmp_path / "apps.yaml"
    config_path.write_text(yaml.safe_dump(apps_file(upstream)))

    async def start(**overrides: Any) -> RunningServer:
        settings = Settings(
            data_dir=tmp_path / "data", database_url=database_url, config=config_path, **overrides
        )
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        running.append((server, task))
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server exited during start-up")
            await asyncio.sleep(0.01)
        return RunningServer(f"http://127.0.0.1:{port}", settings, upstream)

    yield start
    for server, task in running:
        server.should_exit = True
    for server, task in running:
        await asyncio.wait_for(task, 30)


@pytest.fixture
async def server(make_server: ServerFactory) -> RunningServer:
    return await make_server()
