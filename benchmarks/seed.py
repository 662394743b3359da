"""Bulk seeding for scenario 4 (history at scale).

The history scenario needs a million messages across a hundred thousand
conversations, written straight into difychat's database (through the API it
would take hours).  That needs the server's table layout, which lives in
``src/difychat/server/store/``.

>>> TO PLUG IN: ``seed_history`` below is the one function to implement once
>>> the store's models are final.  Until then it raises ``NotImplementedError``
>>> and the harness reports scenario 4 as skipped, with that reason.

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

from dataclasses import dataclass
from pathlib import Path

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
    which lives under ``data_dir`` (the server's ``--data-dir``).  The server's
    schema already exists (the server created it at start-up).

    Implement with the store's own table definitions (read-only import from
    ``difychat.server.store``) and multi-row inserts / ``COPY`` in batches of
    a few thousand rows; return where the deep cursors are.
    """
    raise NotImplementedError("bulk seeding waits for the server's table layout (src/difychat/server/store/)")
