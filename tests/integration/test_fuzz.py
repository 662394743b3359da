"""Fuzzing every operation with schemathesis: no request, however malformed, gets a 5xx, and every
error has the contract's body, ``{"code", "message", "status"}`` in that order.

Two documents describe the operations: the server's own (``GET /v1/openapi.json``, built from the
route table and each handler's description, always here) and Dify's published document of the chat API
(``../shared/reference/openapi_chat.json``, beside the repository: CI only, skipped in a plain
clone, a failure when services are required). They run against the app in-process, as the
every-feature app (the ``/v1/datasets`` routes with a Knowledge API key), with real ids of a seeded
conversation, message, file, variable, annotation, job and dataset put in place of half the
generated well-formed ids (so that writes past the ownership checks are fuzzed too): Dify's
document on SQLite and PostgreSQL, the server's whole on SQLite and its chat API operations on
PostgreSQL.

Each operation gets ``EXAMPLES`` cases in each of three modes: valid (schemathesis's positive
mode), invalid (its negative mode) and hostile (valid cases with a NUL in every string and every
integer past 64 bits, absent optional query parameters added). The budget is fixed: seed
``SEED``, no shrinking. With 83 operations in the server's document (24 of them the chat API's that
take input) and 26 in Dify's, that is about 690 + 230 requests on SQLite and 220 + 230 on PostgreSQL; the
four tests took 52 s (39 s of CPU, imports and database set-up included) on a 2-core machine
shared at load 9.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation

from difychat.server.domain.values import parse_uuid
from tests.conftest import missing_service
from tests.fakes.upstream import FakeUpstream
from tests.integration.conftest import RunningServer, ServerFactory
from tests.integration.every_feature_app import EVERY_FEATURE_KEY, write_apps_file
from tests.integration.knowledge_helpers import knowledge_key as make_knowledge_key
from tests.integration.knowledge_helpers import make_dataset

pytestmark = pytest.mark.anyio

SEED = 20261201
EXAMPLES = 3  # per operation and mode
DIFY_DOCUMENT = Path(__file__).resolve().parents[3] / "shared" / "reference" / "openapi_chat.json"
OWNER = "fuzz-owner"
ERROR_KEYS = ["code", "message", "status"]


@dataclass(frozen=True)
class Seeded:
    """Real ids owned by ``OWNER``, by the name a path or query parameter gives them, and a
    Knowledge API key for the ``/v1/datasets`` routes."""

    ids: dict[str, str]
    knowledge_key: str


async def seed(server: RunningServer) -> Seeded:
    async with server.client(EVERY_FEATURE_KEY) as client:
        upload = await client.post(
            "/files/upload", files={"file": ("notes.txt", b"notes", "text/plain")}, data={"user": OWNER}
        )
        file_id = upload.json()["id"]
        turn = {
            "query": "hello",
            "inputs": {},
            "user": OWNER,
            "files": [{"type": "document", "transfer_method": "local_file", "upload_file_id": file_id}],
        }
        answer = (await client.post("/chat-messages", json=turn)).json()
        conversation_id = answer["conversation_id"]
        variables = await client.get(f"/conversations/{conversation_id}/variables", params={"user": OWNER})
        annotation = await client.post("/apps/annotations", json={"question": "q", "answer": "a"})
        reply = {"score_threshold": 0.9, "embedding_provider_name": "openai", "embedding_model_name": "e"}
        job = await client.post("/apps/annotation-reply/enable", json=reply)
    knowledge_key = await make_knowledge_key(server)
    headers = {"Authorization": f"Bearer {knowledge_key}"}
    async with httpx.AsyncClient(base_url=server.base_url + "/v1", headers=headers, timeout=30) as client:
        dataset = await make_dataset(client, "fuzzed")
    ids = {
        "conversation_id": conversation_id,
        "last_id": conversation_id,
        "message_id": answer["message_id"],
        "first_id": answer["message_id"],
        "task_id": answer["task_id"],
        "file_id": file_id,
        "end_user_id": upload.json()["created_by"],
        "variable_id": variables.json()["data"][0]["id"],
        "annotation_id": annotation.json()["id"],
        "job_id": job.json()["job_id"],
        "dataset_id": dataset["id"],
    }
    return Seeded(ids, knowledge_key)


def _half(value: object) -> bool:
    """A fixed choice of half the values (``hash`` of a string changes from run to run)."""
    return zlib.crc32(repr(value).encode("utf-8", "surrogatepass")) % 2 == 0


def with_real_ids(case: schemathesis.Case[Any], seeded: Seeded) -> None:
    """Half of the well-formed generated ids become the seeded ones, and half of the users the
    owner, so that the lookups succeed and what comes after them is fuzzed as well."""
    for container in (case.path_parameters, case.query):
        if not isinstance(container, dict):
            continue
        for name, value in container.items():
            if name in seeded.ids and parse_uuid(value) is not None and _half(value):
                container[name] = seeded.ids[name]
            elif name == "user" and isinstance(value, str) and _half(value):
                container[name] = OWNER
    if isinstance(case.body, dict) and isinstance(case.body.get("user"), str) and _half(case.body["user"]):
        case.body["user"] = OWNER


def hostile(value: Any) -> Any:
    """``value`` with a NUL in each string (keys too) and each integer past 64 bits: what a
    database or encoder refuses, in every place a valid case puts text or a number."""
    if isinstance(value, bool) or value is None or isinstance(value, float | bytes):
        return value
    if isinstance(value, int):
        return 2**64 if value >= 0 else -(2**64)
    if isinstance(value, str):
        return value[:1] + "\x00" + value[1:]
    if isinstance(value, list):
        return [hostile(item) for item in value]
    if isinstance(value, dict):
        return {hostile(key): hostile(item) for key, item in value.items()}
    return value


def make_hostile(case: schemathesis.Case[Any], operation: Operation) -> None:
    """The case made hostile: its body whole, the values (not the names) of its parameters, and
    the optional integer and text query parameters the case left out, added."""
    if not isinstance(case.query, dict):
        case.query = {}
    for parameter in operation.query:
        kind = parameter.definition.get("schema", {}).get("type")
        if parameter.name not in case.query and kind in ("integer", "string"):
            case.query[parameter.name] = 0 if kind == "integer" else "text"
    for parameters in (case.path_parameters, case.query):
        if isinstance(parameters, dict):
            for name, value in parameters.items():
                parameters[name] = hostile(value)
    case.body = hostile(case.body)


def problems_of(response: schemathesis.Response, path: str) -> str | None:
    """What is wrong with a response to an operation on ``path``, or None.

    Only the status is checked where the contract's error body does not apply: an MCP endpoint
    answers in JSON-RPC, errors included, and a page for browsers outside ``/v1`` in HTML."""
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:300]}"
    if response.status_code < 400 or path.endswith("/mcp"):
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    if not path.startswith("/v1") and content_type.startswith("text/html"):
        return None
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} without a JSON body: {response.text[:300]!r}"
    if not isinstance(body, dict) or list(body) != ERROR_KEYS:
        return f"{response.status_code} error body not in the contract's shape: {body!r:.300}"
    if body["status"] != response.status_code or not isinstance(body["code"], str):
        return f"{response.status_code} error body with another status or no code: {body!r:.300}"
    return None


SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=False,  # the seed decides (CI's hypothesis profile would derandomize otherwise)
    phases=[Phase.generate],  # failures are collected, not raised: nothing to shrink
    suppress_health_check=list(HealthCheck),
    verbosity=hypothesis.Verbosity.quiet,
)
Operation = APIOperation[Any, Any, Any, Any]
# Valid cases, invalid ones (schemathesis's negative mode), and valid ones made hostile.
MODES = ("positive", "negative", "hostile")


class Fuzzer:
    """Sends each operation's generated cases to the server with a blocking client, and keeps
    what was wrong with the answers."""

    def __init__(self, base_url: str, prefix: str, seeded: Seeded) -> None:
        self.base_url = base_url + prefix
        self.prefix = prefix
        self.seeded = seeded
        self.session = requests.Session()
        self.headers = {"Authorization": f"Bearer {EVERY_FEATURE_KEY}"}
        self.made = 0
        self.failures: list[str] = []

    def operation(self, operation: Operation) -> None:
        for mode in MODES:
            # Unsatisfiable: nothing in the operation can be made invalid (no parameters, no body).
            with contextlib.suppress(hypothesis.errors.Unsatisfiable):
                self._cases(operation, mode)

    def _cases(self, operation: Operation, mode: str) -> None:
        generation = GenerationMode.NEGATIVE if mode == "negative" else GenerationMode.POSITIVE

        @hypothesis.seed(SEED)
        @SETTINGS
        @hypothesis.given(case=operation.as_strategy(generation_mode=generation))
        def run(case: schemathesis.Case[Any]) -> None:
            if mode != "negative":
                with_real_ids(case, self.seeded)
            if mode == "hostile":
                make_hostile(case, operation)
            headers = self.headers
            if operation.path.startswith("/v1/datasets"):
                headers = {"Authorization": f"Bearer {self.seeded.knowledge_key}"}
            try:
                response = case.call(
                    base_url=self.base_url, session=self.session, headers=headers, timeout=30
                )
            except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, UnicodeError):
                return  # a request no HTTP client can send
            self.made += 1
            problem = problems_of(response, self.prefix + operation.path)
            if problem is not None:
                curl = case.as_curl_command(headers=headers, base_url=self.base_url)
                self.failures.append(f"{operation.label} ({mode}): {problem}\n    {curl}")

        run()


def fuzz(document: dict[str, Any], base_url: str, prefix: str, seeded: Seeded) -> Fuzzer:
    fuzzer = Fuzzer(base_url, prefix, seeded)
    for result in schemathesis.openapi.from_dict(document).get_all_operations():
        assert isinstance(result, Ok), result
        fuzzer.operation(result.ok())
    return fuzzer


@pytest.fixture
async def server(make_server: ServerFactory, tmp_path: Path, upstream: FakeUpstream) -> RunningServer:
    write_apps_file(tmp_path / "apps.yaml", upstream)
    return await make_server()


async def run_fuzz(server: RunningServer, document: dict[str, Any], prefix: str = "") -> None:
    """Fuzz the operations of ``document``, whose paths lie under ``prefix`` on the server."""
    seeded = await seed(server)
    # The server runs on this event loop; the fuzz's blocking client runs beside it.
    fuzzer = await asyncio.to_thread(fuzz, document, server.base_url, prefix, seeded)
    assert fuzzer.made > 0
    failures = fuzzer.failures
    assert not failures, f"{len(failures)} of {fuzzer.made} requests failed:\n" + "\n".join(failures)


def takes_input(item: dict[str, Any]) -> bool:
    return any("parameters" in operation or "requestBody" in operation for operation in item.values())


async def test_fuzz_the_servers_own_routes(server: RunningServer) -> None:
    async with server.client(None) as client:
        document: dict[str, Any] = (await client.get("/openapi.json")).json()
    if server.settings.resolved_database_url().startswith("postgresql"):
        # Every route on SQLite; on PostgreSQL (a budget) the chat API's that take input, where
        # request text is stored.
        document["paths"] = {
            path: item
            for path, item in document["paths"].items()
            if path.startswith("/v1/") and not path.startswith("/v1/datasets") and takes_input(item)
        }
    await run_fuzz(server, document)


async def test_fuzz_difys_document_of_the_chat_api(server: RunningServer) -> None:
    if not DIFY_DOCUMENT.exists():
        missing_service(
            f"Dify's OpenAPI document is not at {DIFY_DOCUMENT} (shared/reference/ beside the repository)"
        )
    document = json.loads(DIFY_DOCUMENT.read_text())
    await run_fuzz(server, document, "/v1")
