"""Bulk seeding for scenario 4 (history at scale).

The history scenario needs a million messages across a hundred thousand
conversations, written straight into difychat's database (through the API it
would take hours).  That needs the server's table layout, which lives in
``src/difychat/server/store/``.

>>> COUPLED TO THE SERVER'S TABLES: ``seed_history`` below writes rows shaped
>>> like ``difychat.server.store.schema``; when that layout changes, follow it
>>> here.  If ``difychat.server.store`` cannot be imported, scenario 4 is
>>> reported as skipped.

The layout the scenario expects (so that both the first and deep pages of both
endpoints are exercised):

* one app (the ``Bench`` app of ``apps.yaml``, API key ``services.API_KEY``);
* ``conversations`` conversations in all, ``messages`` messages in all;
* one heavy user, ``HEAVY_USER``, owns ``heavy_conversations`` of those
  conversations, one of which holds ``heavy_messages`` messages; the other
  conversations and messages are spread over other end users;
* timestamps strictly increasing within a conversation (the cursors compare
  ``created_at`` strictly, so ties would hide rows).
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

HEAVY_USER = "bench-history"


@dataclass
class SeedPlan:
    conversations: int = 100_000
    messages: int = 1_000_000
    heavy_conversations: int = 10_000
    heavy_messages: int = 10_000

    def scaled(self, factor: float) -> SeedPlan:
        def s(n: int, floor: int) -> int:
            return max(floor, int(n * factor))

        return SeedPlan(
            s(self.conversations, 4),
            s(self.messages, 40),
            s(self.heavy_conversations, 3),
            s(self.heavy_messages, 30),
        )


@dataclass
class SeedInfo:
    """What the timing part of scenario 4 needs to know about the seeded data."""

    user: str  # the heavy user
    conversation_id: str  # the heavy user's conversation with many messages
    deep_first_id: str  # a message far back in that conversation (``first_id`` for a deep page)
    deep_last_id: str  # a conversation far down the heavy user's list (``last_id`` for a deep page)
    messages: int
    conversations: int
    seconds: float  # how long the bulk load took


def seed_history(database_url: str, data_dir: Path, plan: SeedPlan) -> SeedInfo:
    """Write ``plan`` into difychat's database in bulk (not through the API).

    ``database_url`` is the SQLAlchemy URL the server was started with
    (``postgresql+asyncpg://...``), or ``sqlite`` for the default SQLite store,
    ``difychat.db`` under ``data_dir`` (the server's ``--data-dir``).  The
    server has already created the schema and the ``Bench`` app at start-up.

    Written against ``difychat.server.store.schema`` (imported read-only);
    if that layout changes, this is the one place to follow it.
    """
    if database_url == "sqlite":
        database_url = f"sqlite+aiosqlite:///{(data_dir / 'difychat.db').resolve()}"
    return asyncio.run(_seed(database_url, plan))


BATCH = 5_000


async def _seed(url: str, plan: SeedPlan) -> SeedInfo:
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    try:
        from difychat.server.store import schema
    except ImportError:  # not installed: use the checkout's src/
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
        from difychat.server.store import schema

    t0 = time.monotonic()
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            app = (
                await conn.execute(
                    sa.select(schema.apps.c.id, schema.apps.c.config_id).where(schema.apps.c.name == "Bench")
                )
            ).first()
        if app is None or app.config_id is None:
            raise RuntimeError("the Bench app is not in the database; did the server start with apps.yaml?")
        app_id, config_id = str(app.id), str(app.config_id)
        base = datetime(2020, 1, 1)

        # End users: the heavy one, plus one per 20 light conversations.
        light_convs = plan.conversations - plan.heavy_conversations
        n_light_users = max(1, light_convs // 20)
        heavy_user = str(uuid.uuid4())
        users = [heavy_user] + [str(uuid.uuid4()) for _ in range(n_light_users)]
        await _insert(
            engine,
            schema.end_users,
            (
                {
                    "id": uid,
                    "app_id": app_id,
                    "session_id": HEAVY_USER if i == 0 else f"bench-seed-{i}",
                    "is_anonymous": False,
                    "created_at": base,
                }
                for i, uid in enumerate(users)
            ),
        )

        # Conversations: the heavy user's first, then the light ones round-robin over their users.
        conv_ids = [str(uuid.uuid4()) for _ in range(plan.conversations)]
        owner = [
            heavy_user if i < plan.heavy_conversations else users[1 + i % n_light_users]
            for i in range(plan.conversations)
        ]
        # Messages per conversation: the heavy conversation (index 0) gets heavy_messages,
        # the rest share what is left.
        rest = max(plan.messages - plan.heavy_messages, 0)
        per = [plan.heavy_messages] + [rest // max(plan.conversations - 1, 1)] * (plan.conversations - 1)
        for i in range(rest - sum(per[1:])):
            per[1 + i % max(plan.conversations - 1, 1)] += 1
        # Conversation i was last updated at base + i minutes: index 0 is the oldest.
        await _insert(
            engine,
            schema.conversations,
            (
                {
                    "id": cid,
                    "app_id": app_id,
                    "app_config_id": config_id,
                    "end_user_id": owner[i],
                    "mode": "chat",
                    "name": f"Seeded conversation {i}",
                    "inputs": {},
                    "introduction": "",
                    "status": "normal",
                    "created_at": base + timedelta(minutes=i),
                    "updated_at": base + timedelta(minutes=i, seconds=30),
                }
                for i, cid in enumerate(conv_ids)
            ),
        )

        heavy_msg_ids: list[str] = []

        def message_rows() -> Iterator[dict[str, object]]:
            for i, cid in enumerate(conv_ids):
                t = base + timedelta(minutes=i)
                parent = None
                for j in range(per[i]):
                    mid = str(uuid.uuid4())
                    if i == 0:
                        heavy_msg_ids.append(mid)
                    yield {
                        "id": mid,
                        "app_id": app_id,
                        "conversation_id": cid,
                        "end_user_id": owner[i],
                        "task_id": str(uuid.uuid4()),
                        "parent_message_id": parent,
                        "query": f"question {j}",
                        "inputs": {},
                        "answer": f"seeded answer {j} " * 4,
                        "status": "normal",
                        "error": None,
                        "prompt_tokens": 12,
                        "completion_tokens": 8,
                        "usage": None,
                        "retriever_resources": None,
                        # strictly increasing within a conversation: the cursors compare strictly
                        "created_at": t + timedelta(microseconds=j * 1000),
                        "updated_at": t + timedelta(microseconds=j * 1000),
                    }
                    parent = mid

        await _insert(engine, schema.messages, message_rows())
    finally:
        await engine.dispose()
    # Deep cursors: a message a tenth of the way into the heavy conversation (the page before it is
    # the tenth oldest), and a conversation nine tenths down the heavy user's newest-first list.
    return SeedInfo(
        user=HEAVY_USER,
        conversation_id=conv_ids[0],
        deep_first_id=heavy_msg_ids[len(heavy_msg_ids) // 10 + 1] if heavy_msg_ids else "",
        deep_last_id=conv_ids[plan.heavy_conversations // 10],
        messages=sum(per),
        conversations=plan.conversations,
        seconds=time.monotonic() - t0,
    )


async def _insert(engine: Any, table: Any, rows: Iterable[dict[str, object]]) -> None:
    """Multi-row inserts in batches, one transaction per batch."""
    it = iter(rows)
    while True:
        batch = list(itertools.islice(it, BATCH))
        if not batch:
            return
        async with engine.begin() as conn:
            await conn.execute(table.insert(), batch)
