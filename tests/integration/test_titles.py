"""Titles of new conversations: queued, asked of the model a few at a time, the backlog bounded."""

from __future__ import annotations

import aiohttp
import pytest
import sqlalchemy as sa

from difychat.server.generation.registry import GenerationRegistry
from difychat.server.providers.base import ChatModel
from difychat.server.providers.openai_compatible import build_openai_compatible
from difychat.server.services.titles import TitleQueue
from difychat.server.store.schema import conversations
from difychat.server.store.writer import GroupWriter
from tests.integration.conftest import RunningServer
from tests.integration.helpers import chat, database

pytestmark = pytest.mark.anyio


def fake_model(server: RunningServer, session: aiohttp.ClientSession) -> ChatModel:
    return build_openai_compatible(
        session, model="fake-model", base_url=server.upstream.base_url, api_key="k", timeout=10
    )


async def test_titles_beyond_the_backlog_are_not_asked_for_and_the_rest_are_written(
    server: RunningServer,
) -> None:
    async with server.client() as client:
        made = [await chat(client, "u1", f"question {i}", auto_generate_name=False) for i in range(4)]
    ids = [m["conversation_id"] for m in made]
    before = len(server.upstream.chat_requests(stream=False))
    async with database(server) as engine, aiohttp.ClientSession() as session:
        registry = GenerationRegistry()
        writes = GroupWriter(engine)
        model = fake_model(server, session)
        titles = TitleQueue(registry, writes, concurrency=1, max_waiting=2)
        for conversation_id in ids:
            titles.request(conversation_id, model, "a question")
        # The first two wait (their one caller has not run yet); the others are not asked for.
        assert titles.backlog() == ["title-waiting"] * 2 and titles.skipped == 2
        assert [name.split("-")[0] for name in registry.background_jobs()] == ["title"] * 3
        await registry.drain(timeout=10)
        await writes.close()
        async with engine.connect() as conn:
            names = dict(
                (
                    await conn.execute(
                        sa.select(conversations.c.id, conversations.c.name).where(conversations.c.id.in_(ids))
                    )
                ).all()
            )
    assert len(server.upstream.chat_requests(stream=False)) - before == 2
    assert [names[i] == "A fake title" for i in ids] == [True, True, False, False]


async def test_a_closed_queue_drops_the_titles_not_asked_for_yet(server: RunningServer) -> None:
    before = len(server.upstream.chat_requests(stream=False))
    async with database(server) as engine, aiohttp.ClientSession() as session:
        registry = GenerationRegistry()
        writes = GroupWriter(engine)
        model = fake_model(server, session)
        titles = TitleQueue(registry, writes, concurrency=1)
        titles.request("a", model, "first")
        titles.request("b", model, "second")
        titles.close()  # shutdown: the caller spawned above finds nothing left to ask
        titles.request("c", model, "third")
        assert titles.backlog() == []
        await registry.drain(timeout=10)
        await writes.close()
    assert len(server.upstream.chat_requests(stream=False)) == before
