"""Indexing: every format read into segments, custom rules, hostile files stopped by caps with
the error in indexing-status and nothing left indexed, a re-upload that succeeds, and a job that
survives a restart of the server mid-parse."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from difychat.server.app import create_app
from difychat.server.settings import Settings
from difychat.server.store import db
from difychat.server.store.schema import document_segments, indexing_jobs
from tests.integration.conftest import RunningServer, ServerFactory
from tests.integration.knowledge_helpers import FAST, knowledge_key, make_dataset, wait_for_batch
from tests.knowledge_files import docx, docx_bomb, pdf, pdf_expanding, xlsx

pytestmark = pytest.mark.anyio

ECONOMY = '{"indexing_technique": "economy", "process_rule": {"mode": "automatic"}}'


async def upload(
    client: httpx.AsyncClient, dataset_id: str, name: str, data: bytes, options: str = ECONOMY
) -> Any:
    response = await client.post(
        f"/datasets/{dataset_id}/document/create-by-file",
        files={"file": (name, data, "application/octet-stream")},
        data={"data": options},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def contents(client: httpx.AsyncClient, dataset_id: str, document_id: str) -> list[str]:
    page = (await client.get(f"/datasets/{dataset_id}/documents/{document_id}/segments")).json()
    return [s["content"] for s in page["data"]]


async def test_each_format_is_read(make_server: ServerFactory) -> None:
    server = await make_server(**FAST)
    key = await knowledge_key(server)
    files = {
        "guide.pdf": pdf(["The first page.", "The second page."]),
        "memo.docx": docx(["Dear team,", "the memo."]),
        "sheet.xlsx": xlsx([["city", "people"], ["Lyon", 500000], ["Nantes", 300000]]),
        "page.html": b"<html><body><h1>Title</h1><script>var x;</script><p>Body text.</p></body></html>",
        "table.csv": b"name,role\nAnn,admin\nBob,\n",
        "notes.md": b"# Heading\n\nVisit https://example.com or mail me@example.com. [Docs](https://d.example)",
    }
    async with server.client(key) as client:
        dataset = await make_dataset(client, "Formats")
        custom = (
            '{"indexing_technique": "economy", "process_rule": {"mode": "custom", "rules": '
            '{"pre_processing_rules": [{"id": "remove_extra_spaces", "enabled": true}, '
            '{"id": "remove_urls_emails", "enabled": true}], '
            '"segmentation": {"separator": "\\\\n", "max_tokens": 60, "chunk_overlap": 0}}}}'
        )
        found: dict[str, list[str]] = {}
        for name, data in files.items():
            body = await upload(client, dataset["id"], name, data, custom if name == "notes.md" else ECONOMY)
            status = await wait_for_batch(client, dataset["id"], body["batch"])
            assert status[0]["indexing_status"] == "completed", (name, status)
            found[name] = await contents(client, dataset["id"], body["document"]["id"])
    assert found["guide.pdf"] == ["The first page.\nThe second page."]
    assert found["memo.docx"] == ["Dear team,\nthe memo."]
    assert found["sheet.xlsx"] == ["city: Lyon; people: 500000\ncity: Nantes; people: 300000"]
    assert found["page.html"] == ["Title\nBody text."]
    assert found["table.csv"] == ["name: Ann; role: admin\nname: Bob"]
    # Split on the custom separator (a literal \n), URLs and e-mails removed, the Markdown link kept.
    assert found["notes.md"][0] == "# Heading"
    assert "https://example.com" not in found["notes.md"][1] and "me@example.com" not in found["notes.md"][1]
    assert "[Docs](https://d.example)" in found["notes.md"][1]


async def test_hostile_files_fail_with_their_cause_and_leave_nothing(make_server: ServerFactory) -> None:
    server = await make_server(
        knowledge_max_pages=20, knowledge_max_chars=50_000, knowledge_max_unzipped_mb=1, **FAST
    )
    key = await knowledge_key(server)
    async with server.client(key) as client:
        dataset = await make_dataset(client, "Hostile")
        cases = {
            "bomb.docx": (docx_bomb(30_000_000), "unpack to more than 1 MB"),
            "pages.pdf": (pdf([f"page {i}" for i in range(40)]), "at most 20 are read"),
            "expanding.pdf": (pdf_expanding(20_000), "longer than 50000 characters"),
            "broken.pdf": (b"%PDF-1.4 nothing else", "parsing failed"),
            "empty.txt": (b"   \n\n ", "no text to index"),
        }
        for name, (data, expected) in cases.items():
            assert len(data) < 200_000, name  # small files that would expand hugely
            body = await upload(client, dataset["id"], name, data)
            status = (await wait_for_batch(client, dataset["id"], body["batch"]))[0]
            assert status["indexing_status"] == "error", (name, status)
            assert expected in status["error"], (name, status["error"])
            assert isinstance(status["stopped_at"], int) and status["total_segments"] == 0
            listed = (
                await client.get(f"/datasets/{dataset['id']}/documents", params={"status": "error"})
            ).json()
            assert body["document"]["id"] in [d["id"] for d in listed["data"]]

        # Uploading the same name again re-indexes the same document, this time successfully.
        retry = await upload(client, dataset["id"], "bomb.docx", docx(["A fixed memo."]))
        status = (await wait_for_batch(client, dataset["id"], retry["batch"]))[0]
        assert status["indexing_status"] == "completed" and status["error"] is None
        listed = (await client.get(f"/datasets/{dataset['id']}/documents")).json()
        assert listed["total"] == len(cases)


async def test_a_parse_past_its_time_limit_fails(make_server: ServerFactory) -> None:
    server = await make_server(knowledge_parse_timeout=0.001, **FAST)
    key = await knowledge_key(server)
    async with server.client(key) as client:
        dataset = await make_dataset(client, "Slow")
        body = await upload(client, dataset["id"], "slow.pdf", pdf(["text"]))
        status = (await wait_for_batch(client, dataset["id"], body["batch"]))[0]
        assert status["indexing_status"] == "error"
        assert "took longer than 0.001 seconds" in status["error"]


@contextlib.asynccontextmanager
async def in_process(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan, served in-process: leaving the block stops it as a shutdown does."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test/v1") as client:
            yield client


async def test_a_job_interrupted_by_a_restart_completes_after_it(
    server: RunningServer, tmp_path: Path
) -> None:
    # ``server`` only prepares the database (migrated, apps synced); the two lives below share it.
    key = await knowledge_key(server)
    settings = server.settings.model_copy(update={"bootstrapped": True, **FAST})
    headers = {"Authorization": f"Bearer {key}"}
    long_pdf = pdf([f"Page {i}: " + "lorem ipsum dolor sit amet " * 20 for i in range(300)], compress=True)
    async with in_process(settings) as client:
        client.headers.update(headers)
        dataset = await make_dataset(client, "Restart")
        body = await upload(client, dataset["id"], "long.pdf", long_pdf)
        url = f"/datasets/{dataset['id']}/documents/{body['batch']}/indexing-status"
        for _ in range(2000):
            state = (await client.get(url)).json()["data"][0]["indexing_status"]
            if state != "waiting":
                break
            await asyncio.sleep(0.005)
        assert state == "parsing"  # the child process is reading the PDF: stop now
    engine = db.create_engine(settings.resolved_database_url(), pool_size=1)
    try:
        async with engine.connect() as conn:
            job = (await conn.execute(sa.select(indexing_jobs.c.state, indexing_jobs.c.attempts))).one()
            segments = (
                await conn.execute(sa.select(sa.func.count()).select_from(document_segments))
            ).scalar()
    finally:
        await engine.dispose()
    assert (job.state, job.attempts, segments) == ("waiting", 0, 0)  # handed back, attempt not counted
    async with in_process(settings) as client:
        client.headers.update(headers)
        status = (await wait_for_batch(client, dataset["id"], body["batch"]))[0]
        assert status["indexing_status"] == "completed", status
        assert status["total_segments"] > 10
