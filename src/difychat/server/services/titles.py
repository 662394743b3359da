"""Titles of new conversations, asked of the model in the background.

A burst of new conversations queues its titles here: at most ``concurrency`` title calls run
at once, beside the answers being streamed, and a title still waiting costs one small tuple
rather than a task of its own.
"""

from __future__ import annotations

import logging
from collections import deque

from difychat.server.generation.registry import GenerationRegistry
from difychat.server.providers.base import ChatModel
from difychat.server.services import naming
from difychat.server.store import writer
from difychat.server.store.common import utcnow
from difychat.server.store.writer import GroupWriter

logger = logging.getLogger("difychat.titles")

# Titles waiting beyond this many are not asked for: under a sustained burst the backlog stays
# bounded, and those conversations keep the name they were created with (the query's start).
MAX_WAITING = 10_000
# The background job name of a title call; its kind (for metrics) is what comes before the "-".
JOB_NAME = "title-calls"
WAITING_NAME = "title-waiting"
# A title joins the next commit (its own turn's answer, usually); alone, it waits at most this long.
TITLE_WRITE_DELAY = 0.25


class TitleQueue:
    def __init__(
        self,
        registry: GenerationRegistry,
        writes: GroupWriter,
        *,
        concurrency: int,
        max_waiting: int = MAX_WAITING,
    ) -> None:
        self._registry = registry
        self._max_waiting = max_waiting
        self.skipped = 0
        self._writer = writes
        self._concurrency = concurrency
        self._waiting: deque[tuple[str, ChatModel, str]] = deque()
        self._callers = 0
        self._closed = False
        registry.add_backlog(self.backlog)

    def request(self, conversation_id: str, model: ChatModel, query: str) -> None:
        """Name ``conversation_id`` after ``query`` once a title call is free."""
        if self._closed:
            return
        if len(self._waiting) >= self._max_waiting:
            self.skipped += 1
            if self.skipped == 1 or self.skipped % 1000 == 0:
                logger.warning("%d titles not asked for: too many were waiting", self.skipped)
            return
        self._waiting.append((conversation_id, model, query))
        if self._callers < self._concurrency:
            self._callers += 1
            self._registry.spawn(self._call_until_done(), JOB_NAME)

    def close(self) -> None:
        """At shutdown: titles not asked for yet are dropped (their conversations keep the name they
        were created with); the calls under way finish."""
        self._closed = True
        self._waiting.clear()

    def backlog(self) -> list[str]:
        """One name per title not asked yet (the background-jobs gauge counts them)."""
        return [WAITING_NAME] * len(self._waiting)

    async def _call_until_done(self) -> None:
        try:
            while self._waiting:
                conversation_id, model, query = self._waiting.popleft()
                try:
                    title = await naming.generate_title(model, query)
                    self._writer.submit_soon(
                        writer.name_conversation(conversation_id, title, utcnow()), within=TITLE_WRITE_DELAY
                    )
                except Exception:
                    logger.exception("naming conversation %s failed", conversation_id)
        finally:
            self._callers -= 1
