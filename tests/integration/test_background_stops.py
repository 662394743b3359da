"""Background loops stop when they are told to, even when the stop meets a wake-up.

A loop that waits for "work or a timeout" and is cancelled in the same loop turn as it is woken
must still end: on Python 3.11 ``asyncio.wait_for`` returns the woken wait's result there and the
cancellation is lost, after which the loop polls on and a shutdown waits for it in vain.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from difychat.server.domain.knowledge import NoIndexer
from difychat.server.files.storage import LocalFileStorage
from difychat.server.services.key_usage import KeyUsage
from difychat.server.services.knowledge.indexing import STOP_SECONDS, IndexingSettings, IndexingWorker
from difychat.server.store import db

pytestmark = pytest.mark.anyio


async def test_an_indexing_worker_woken_as_it_is_stopped_stops(database_url: str, tmp_path: Path) -> None:
    engine = db.create_engine(database_url, pool_size=1)
    worker = IndexingWorker(
        engine, LocalFileStorage(tmp_path / "files"), NoIndexer(), IndexingSettings(poll_seconds=60)
    )
    try:
        worker.start()
        for _ in range(3):  # each round: a job was queued (a wake) just as the server stops
            await asyncio.sleep(0.05)  # the worker found nothing and waits for a wake or a poll
            worker.wake()
            async with asyncio.timeout(STOP_SECONDS / 4):
                await worker.stop()
            worker.start()
    finally:
        async with asyncio.timeout(STOP_SECONDS / 4):
            await worker.stop()
        await engine.dispose()


async def test_a_key_usage_writer_cancelled_as_a_key_is_first_used_ends(database_url: str) -> None:
    engine = db.create_engine(database_url, pool_size=1)
    usage = KeyUsage(engine, interval=60)
    try:
        usage.start()
        await asyncio.sleep(0.05)  # nothing to write: it waits for a first use or the interval
        tasks = [t for t in asyncio.all_tasks() if t.get_name() == "key-usage"]
        assert len(tasks) == 1
        usage.touch("a-key-never-stored")  # a first use wakes it...
        tasks[0].cancel()  # ...in the turn a shutdown cancels what is left running
        with pytest.raises(asyncio.CancelledError):
            async with asyncio.timeout(5):
                await tasks[0]
    finally:
        await engine.dispose()
