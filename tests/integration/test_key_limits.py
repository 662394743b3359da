"""The key-count limits hold when keys are created at once (two `keys create` commands, say): the
count and the insert are one transaction, so exactly the room left is given out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from difychat.server.services import keys
from difychat.server.services.keys import KeyCommandError
from difychat.server.services.knowledge import keys as knowledge_keys
from difychat.server.store import apps as app_store
from difychat.server.store import dataset_keys as key_store
from difychat.server.store import db
from tests.integration.conftest import RunningServer

pytestmark = pytest.mark.anyio

AT_ONCE = 6


async def _warm(engine: AsyncEngine, count: int) -> None:
    """Open the pool's connections beforehand, so that the creations run at once rather than one
    by one as each connection is made."""
    async with contextlib.AsyncExitStack() as held:
        for _ in range(count):
            await held.enter_async_context(engine.connect())


async def _at_once(make: Callable[[], Awaitable[str]], count: int) -> tuple[int, list[str]]:
    """Run ``make`` ``count`` times at once: how many made a key, and the refusals' messages."""
    outcomes = await asyncio.gather(*(make() for _ in range(count)), return_exceptions=True)
    refused = [str(o) for o in outcomes if isinstance(o, KeyCommandError)]
    others = [o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, KeyCommandError)]
    assert not others, others
    return sum(isinstance(o, str) for o in outcomes), refused


async def test_app_keys_created_at_once_stop_at_the_limit(server: RunningServer) -> None:
    engine = db.create_engine(server.settings.resolved_database_url(), pool_size=AT_ONCE)
    try:
        async with engine.connect() as conn:
            app = await app_store.app_by_name(conn, "Plain")
            assert app is not None
            active = await app_store.count_active_keys(conn, str(app.id))
        room = keys.MAX_KEYS_PER_APP - active - 1
        for _ in range(room):
            await keys.create_key(engine, "Plain")
        await _warm(engine, AT_ONCE)
        made, refused = await _at_once(lambda: keys.create_key(engine, "Plain"), AT_ONCE)
        assert made == 1
        assert refused == [f"app 'Plain' already has {keys.MAX_KEYS_PER_APP} keys; revoke one first"] * (
            AT_ONCE - 1
        )
        async with engine.connect() as conn:
            assert await app_store.count_active_keys(conn, str(app.id)) == keys.MAX_KEYS_PER_APP
    finally:
        await engine.dispose()


async def test_knowledge_keys_created_at_once_stop_at_the_limit(server: RunningServer) -> None:
    engine = db.create_engine(server.settings.resolved_database_url(), pool_size=AT_ONCE)
    try:
        for _ in range(knowledge_keys.MAX_KEYS - 1):
            await knowledge_keys.create_dataset_key(engine)
        await _warm(engine, AT_ONCE)
        made, refused = await _at_once(lambda: knowledge_keys.create_dataset_key(engine), AT_ONCE)
        assert made == 1
        assert refused == [
            f"there are already {knowledge_keys.MAX_KEYS} knowledge keys; revoke one first"
        ] * (AT_ONCE - 1)
        async with engine.connect() as conn:
            assert await key_store.count_active(conn) == knowledge_keys.MAX_KEYS
    finally:
        await engine.dispose()
