"""Exact vector search over each dataset's embeddings, held in memory as float32 matrices.

The embeddings live in the database (``knowledge_index.embedding``); each process keeps a
dataset's vectors in memory once it has searched them: contiguous float32 blocks of unit
rows, so a search is one matrix product per block and a partial sort, exact (no
approximate index to tune or to drift). What is held is the raw vectors plus 24 bytes a row
(the entry's ``seq`` and segment id), well under 1.2x the raw size.

Writes made through this process's indexer are applied in place (new rows are appended as a
small tail block, removed rows are skipped until the next rebuild); a change made by another
process shows as a new index version, and the dataset is read again on its next search.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncConnection

from difychat.server.store import knowledge_index as index_store

Matrix = npt.NDArray[np.float32]
# Rows gathered before they are copied into a block of their own.
TAIL_ROWS = 2048
# Scans bigger than this many numbers run in a worker thread (numpy lets go of the GIL), so the
# event loop serves other requests meanwhile.
THREAD_ABOVE = 4_000_000
# Removed rows are skipped while they are fewer than this share of the rows; then compacted.
DEAD_SHARE = 0.1


def unit_rows(vectors: npt.ArrayLike) -> Matrix:
    """``vectors`` as float32 rows of unit length (a zero row stays zero)."""
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(matrix / norms, dtype=np.float32)


def to_blob(row: Matrix) -> bytes:
    return np.asarray(row, dtype="<f4").tobytes()


@dataclass(slots=True)
class _Block:
    vectors: Matrix
    seqs: npt.NDArray[np.int64]
    ids: npt.NDArray[np.void]


@dataclass(slots=True)
class DatasetVectors:
    """One dataset's vectors in one process."""

    dims: int
    version: int
    blocks: list[_Block] = field(default_factory=list)
    tail: list[tuple[int, bytes, Matrix]] = field(default_factory=list)
    dead: set[int] = field(default_factory=set)
    rows: int = 0

    @classmethod
    def load(cls, stored: index_store.StoredVectors, version: int) -> DatasetVectors | None:
        if not stored.blobs:
            return None
        dims = len(stored.blobs[0]) // 4
        matrix = np.empty((len(stored.blobs), dims), dtype=np.float32)
        for i, blob in enumerate(stored.blobs):
            if len(blob) == dims * 4:
                matrix[i] = np.frombuffer(blob, dtype="<f4")
            else:  # an entry of another model: never a match
                matrix[i] = 0.0
        out = cls(dims, version)
        out.blocks.append(
            _Block(
                matrix,
                np.asarray(stored.seqs, dtype=np.int64),
                _id_array(stored.segment_ids),
            )
        )
        out.rows = len(stored.blobs)
        return out

    @property
    def raw_bytes(self) -> int:
        """The size of the vectors themselves."""
        return self.rows * self.dims * 4

    @property
    def held_bytes(self) -> int:
        """What this object holds in arrays (vectors, ids and seqs)."""
        held = sum(b.vectors.nbytes + b.seqs.nbytes + b.ids.nbytes for b in self.blocks)
        return held + sum(v.nbytes + 24 for _, _, v in self.tail)

    def add(self, seqs: Sequence[int], segment_ids: Sequence[str], vectors: Matrix) -> None:
        for seq, segment_id, row in zip(seqs, segment_ids, vectors, strict=True):
            self.tail.append((seq, uuid.UUID(segment_id).bytes, row))
        self.rows += len(seqs)
        if len(self.tail) >= TAIL_ROWS:
            self._seal_tail()

    def remove(self, seqs: Sequence[int]) -> None:
        self.dead.update(seqs)
        if len(self.dead) > DEAD_SHARE * max(self.rows, 1):
            self._compact()

    def _seal_tail(self) -> None:
        if not self.tail:
            return
        vectors = np.stack([row for _, _, row in self.tail]).astype(np.float32, copy=False)
        seqs = np.asarray([seq for seq, _, _ in self.tail], dtype=np.int64)
        ids = np.frombuffer(b"".join(key for _, key, _ in self.tail), dtype="V16").copy()
        self.blocks.append(_Block(vectors, seqs, ids))
        self.tail = []

    def _compact(self) -> None:
        self._seal_tail()
        dead = np.fromiter(self.dead, dtype=np.int64, count=len(self.dead))
        kept: list[_Block] = []
        for block in self.blocks:
            alive = ~np.isin(block.seqs, dead)
            if alive.all():
                kept.append(block)
            elif alive.any():
                kept.append(_Block(block.vectors[alive].copy(), block.seqs[alive], block.ids[alive]))
        self.blocks = kept
        self.rows -= len(self.dead)
        self.dead = set()

    def search(self, query: Matrix, k: int) -> list[tuple[str, float]]:
        """The ``k`` nearest rows by cosine similarity: (segment id, similarity), best first."""
        return self.frozen().search(query, k)

    def frozen(self) -> Frozen:
        """The rows as they are now, searchable from another thread while this one changes."""
        self._seal_tail()
        return Frozen(self.dims, tuple(self.blocks), frozenset(self.dead))


@dataclass(frozen=True, slots=True)
class Frozen:
    dims: int
    blocks: tuple[_Block, ...]
    dead: frozenset[int]

    @property
    def rows(self) -> int:
        return sum(b.seqs.shape[0] for b in self.blocks)

    def search(self, query: Matrix, k: int) -> list[tuple[str, float]]:
        if k <= 0:
            return []
        q = query.reshape(-1)
        if q.shape[0] != self.dims:
            return []
        want = k + len(self.dead)
        scores: list[npt.NDArray[np.float32]] = []
        picks: list[tuple[int, npt.NDArray[np.intp]]] = []
        for number, block in enumerate(self.blocks):
            sims = block.vectors @ q
            if sims.shape[0] > want:
                top = np.argpartition(-sims, want - 1)[:want]
            else:
                top = np.arange(sims.shape[0])
            scores.append(sims[top])
            picks.append((number, top))
        if not scores:
            return []
        out: list[tuple[float, int, int]] = []
        for (number, top), sims in zip(picks, scores, strict=True):
            out.extend((float(s), number, int(i)) for s, i in zip(sims, top, strict=True))
        out.sort(key=lambda item: -item[0])
        found: list[tuple[str, float]] = []
        for similarity, number, i in out:
            block = self.blocks[number]
            if self.dead and int(block.seqs[i]) in self.dead:
                continue
            found.append((str(uuid.UUID(bytes=block.ids[i].tobytes())), similarity))
            if len(found) == k:
                break
        return found


def _id_array(segment_ids: Sequence[str]) -> npt.NDArray[np.void]:
    return np.frombuffer(b"".join(uuid.UUID(s).bytes for s in segment_ids), dtype="V16").copy()


class VectorCache:
    """Every dataset's vectors this process has searched, kept current with the index version.

    The version is read again at most every ``recheck_seconds`` per dataset: a write made by
    another process reaches this one's vector searches within that time (this process's own
    writes at once); a segment deleted meanwhile is never returned (results are checked
    against the segments table).
    """

    def __init__(self, *, recheck_seconds: float = 1.0) -> None:
        self._recheck = recheck_seconds
        self._checked: dict[str, float] = {}
        # None: the dataset was read and holds no vectors.
        self._sets: dict[str, DatasetVectors | None] = {}
        self._versions: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, dataset_id: str) -> asyncio.Lock:
        lock = self._locks.get(dataset_id)
        if lock is None:
            lock = self._locks[dataset_id] = asyncio.Lock()
        return lock

    def held(self, dataset_id: str) -> DatasetVectors | None:
        return self._sets.get(dataset_id)

    async def current(self, conn: AsyncConnection, dataset_id: str) -> Frozen | None:
        """The dataset's vectors as the index holds them now (read on first use or after a change)."""
        now = time.monotonic()
        held = dataset_id in self._sets and now - self._checked.get(dataset_id, -math.inf) < self._recheck
        version = None if held else await index_store.version(conn, dataset_id)
        async with self._lock(dataset_id):
            if version is not None:
                if self._versions.get(dataset_id) != version or dataset_id not in self._sets:
                    stored = await index_store.vectors(conn, dataset_id)
                    self._sets[dataset_id] = DatasetVectors.load(stored, version)
                    self._versions[dataset_id] = version
                self._checked[dataset_id] = now
            found = self._sets.get(dataset_id)
            return None if found is None else found.frozen()

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
                    found = self._sets[dataset_id] = DatasetVectors(added[2].shape[1], version)
                if added[2].shape[1] != found.dims:
                    self.forget(dataset_id)
                    return
                found.add(added[0], added[1], added[2])
            if found is not None:
                found.version = version
            self._versions[dataset_id] = version

    def forget(self, dataset_id: str) -> None:
        self._sets.pop(dataset_id, None)
        self._versions.pop(dataset_id, None)
        self._checked.pop(dataset_id, None)
