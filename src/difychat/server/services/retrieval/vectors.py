"""Each dataset's vectors held in memory for search, read from the index on first use.

The embeddings live in the database (``knowledge_index.embedding``); a process holds a
dataset's vectors once it has searched them (``matrices.py``: float32 blocks of unit rows,
searched exactly, or through one-bit codes first when the cache is made ``approximate``).
numpy is imported on the first vector search or embedding write, not with this module.

The vectors held by all datasets together stay within ``budget_bytes``: past it, the datasets
searched least recently are let go (the one being searched is always kept), and read again
from the database on their next search.

Writes made through this process's indexer are applied in place (new rows are appended as a
small tail block, removed rows are skipped until the next compaction); a change made by another
process shows as a new index version, and the dataset is read again on its next search.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.store import knowledge_index as index_store

if TYPE_CHECKING:
    from difychat.server.services.retrieval.matrices import DatasetVectors, Frozen, Matrix

# Scans bigger than this many numbers run in a worker thread (numpy lets go of the GIL), so the
# event loop serves other requests meanwhile.
THREAD_ABOVE = 4_000_000
# What the vectors of all datasets may hold together unless told otherwise.
DEFAULT_BUDGET_BYTES = 1024 * 2**20


class VectorCache:
    """Every dataset's vectors this process has searched recently, kept current with the index
    version.

    The version is read again at most every ``recheck_seconds`` per dataset: a write made by
    another process reaches this one's vector searches within that time (this process's own
    writes at once); a segment deleted meanwhile is never returned (results are checked
    against the segments table). ``budget_bytes`` 0: no limit.
    """

    def __init__(
        self,
        *,
        recheck_seconds: float = 1.0,
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
        approximate: bool = False,
    ) -> None:
        self._recheck = recheck_seconds
        self.budget_bytes = budget_bytes
        self.approximate = approximate
        self._checked: dict[str, float] = {}
        # Least recently searched first. None: the dataset was read and holds no vectors.
        self._sets: OrderedDict[str, DatasetVectors | None] = OrderedDict()
        self._versions: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        # Datasets let go to stay within the budget (since start).
        self.evictions = 0

    def _lock(self, dataset_id: str) -> asyncio.Lock:
        lock = self._locks.get(dataset_id)
        if lock is None:
            lock = self._locks[dataset_id] = asyncio.Lock()
        return lock

    def held(self, dataset_id: str) -> DatasetVectors | None:
        return self._sets.get(dataset_id)

    @property
    def held_bytes(self) -> int:
        """What the vectors of every dataset held take together."""
        return sum(v.held_bytes for v in self._sets.values() if v is not None)

    def recent(self, dataset_id: str) -> tuple[bool, Frozen | None]:
        """The dataset's vectors, without asking the database, when its version was read less
        than ``recheck_seconds`` ago: (True, the vectors or None when it has none); else
        (False, None), and ``current`` is needed."""
        if dataset_id not in self._sets:
            return False, None
        if time.monotonic() - self._checked.get(dataset_id, -math.inf) >= self._recheck:
            return False, None
        self._sets.move_to_end(dataset_id)
        found = self._sets[dataset_id]
        return True, None if found is None else found.frozen()

    async def current(self, conn: AsyncConnection, dataset_id: str) -> Frozen | None:
        """The dataset's vectors as the index holds them now (read on first use or after a change)."""
        now = time.monotonic()
        held = dataset_id in self._sets and now - self._checked.get(dataset_id, -math.inf) < self._recheck
        version = None if held else await index_store.version(conn, dataset_id)
        async with self._lock(dataset_id):
            if version is not None:
                if self._versions.get(dataset_id) != version or dataset_id not in self._sets:
                    from difychat.server.services.retrieval.matrices import DatasetVectors

                    stored = await index_store.vectors(conn, dataset_id)
                    self._sets[dataset_id] = DatasetVectors.load(
                        stored.seqs, stored.segment_ids, stored.blobs, version, codes=self.approximate
                    )
                    del stored
                    self._versions[dataset_id] = version
                self._checked[dataset_id] = now
            if dataset_id not in self._sets:
                return None
            self._sets.move_to_end(dataset_id)
            found = self._sets[dataset_id]
            self._evict(keep=dataset_id)
            return None if found is None else found.frozen()

    def _evict(self, *, keep: str) -> None:
        """Let the least recently searched datasets go until the rest fit the budget."""
        if self.budget_bytes <= 0:
            return
        sizes = {d: v.held_bytes for d, v in self._sets.items() if v is not None}
        total = sum(sizes.values())
        for dataset_id in list(self._sets):
            if total <= self.budget_bytes:
                break
            if dataset_id == keep or dataset_id not in sizes:
                continue
            total -= sizes[dataset_id]
            self.forget(dataset_id)
            self.evictions += 1

    async def written(
        self,
        dataset_id: str,
        version: int,
        *,
        added: tuple[Sequence[int], Sequence[str], Matrix] | None = None,
        removed: Sequence[int] = (),
    ) -> None:
        """Apply this process's own write (which made index ``version``) to the held vectors."""
        async with self._lock(dataset_id):
            if dataset_id not in self._sets:
                return
            if self._versions.get(dataset_id) != version - 1:
                # Another process wrote in between: read the dataset again when it is searched.
                self.forget(dataset_id)
                return
            found = self._sets[dataset_id]
            if removed and found is not None:
                found.remove(removed)
            if added is not None and len(added[0]):
                if found is None:
                    from difychat.server.services.retrieval.matrices import DatasetVectors

                    found = DatasetVectors(added[2].shape[1], version, codes=self.approximate)
                    self._sets[dataset_id] = found
                if added[2].shape[1] != found.dims:
                    self.forget(dataset_id)
                    return
                found.add(added[0], added[1], added[2])
            if found is not None:
                found.version = version
            self._versions[dataset_id] = version
            self._evict(keep=dataset_id)

    def forget(self, dataset_id: str) -> None:
        self._sets.pop(dataset_id, None)
        self._versions.pop(dataset_id, None)
        self._checked.pop(dataset_id, None)
