"""The arithmetic of vector search: a dataset's vectors as float32 matrices, searched exactly or
through a one-bit code first.

Imported on a process's first vector search or embedding write (never at start-up): numpy
loads here and nowhere else on the search path.

**Exact** (the default): a block's rows are one C-contiguous float32 matrix of unit rows, so a
search is one matrix-vector product per block (memory-bound: it reads every vector once, in
numpy's own SIMD loop on the calling thread: see ``_products``), removed rows set to -inf, and
``argpartition`` for the best k; no copy of the matrix, no Python loop over rows. What is
returned is exactly the k most similar rows.

**Approximate** (``codes=True``, used for blocks of at least ``CODE_MIN_ROWS`` rows): each row
also has a one-bit code, the sign of each of its components after the dataset's mean is taken
away (``dims / 8`` bytes a row, 1/32 of the vector), and the mean absolute value of those
components. A search first estimates every row's similarity from the codes (the query keeps
its full precision, quantised to 3 bits a component, and is compared bit-plane by bit-plane
with popcounts over 64 components at a time), keeps the ``pool`` best estimates, and ranks
those by their exact float32 similarity. The scores returned are exact; which rows are
returned is not guaranteed: a row whose estimate misses the pool is not found. Recall against
the exact search is measured in ``benchmarks/knowledge.py``.

Held per row: the vector, its ``seq`` (8 bytes) and segment id (16 bytes), and with codes
``dims / 8 + 4`` bytes more: 1.05x the raw vectors at 384 dimensions.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]
Codes = npt.NDArray[np.uint64]
# Rows gathered before they are copied into a block of their own.
TAIL_ROWS = 2048
# Removed rows are skipped while they are fewer than this share of the rows; then compacted.
DEAD_SHARE = 0.1
# Blocks smaller than this are always scanned exactly (a few milliseconds at most).
CODE_MIN_ROWS = 20_000
# Rows whose exact similarity is computed after the codes' estimate: this many per result
# wanted, and at least POOL_MIN.
POOL_PER_RESULT = 100
POOL_MIN = 2_000
# Bits a query component keeps when it is compared with the codes.
QUERY_BITS = 3


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


def _id_array(segment_ids: Sequence[str]) -> npt.NDArray[np.void]:
    return np.frombuffer(b"".join(uuid.UUID(s).bytes for s in segment_ids), dtype="V16").copy()


def _codes(vectors: Matrix, centre: Matrix) -> tuple[Codes, Matrix]:
    """Sign bits of ``vectors - centre``, as 64-bit words laid out word by word (each word's
    column contiguous over the rows), and each row's mean absolute centred component."""
    centred = vectors - centre
    words = -(-vectors.shape[1] // 64)
    bits = np.packbits(centred > 0, axis=1)
    padded = np.zeros((vectors.shape[0], words * 8), dtype=np.uint8)
    padded[:, : bits.shape[1]] = bits
    codes = np.ascontiguousarray(padded.view(np.uint64).T)
    scale = np.abs(centred).mean(axis=1, dtype=np.float32)
    return codes, scale


def _query_planes(query: Matrix) -> tuple[Codes, Codes, float, float]:
    """The query's signs (as the codes' bits) and its magnitudes quantised to ``QUERY_BITS``
    bit planes; the quantisation step and the sum of the quantised magnitudes."""
    dims = query.shape[0]
    words = -(-dims // 64)

    def pack(bits: npt.NDArray[np.bool_]) -> Codes:
        packed = np.zeros(words * 8, dtype=np.uint8)
        raw = np.packbits(bits)
        packed[: raw.shape[0]] = raw
        return packed.view(np.uint64)

    top = float(np.abs(query).max()) or 1.0
    step = top / (2**QUERY_BITS - 1)
    levels = np.rint(np.abs(query) / step).astype(np.uint8)
    signs = pack(query > 0)
    planes = np.stack([pack(((levels >> b) & 1).astype(bool)) for b in range(QUERY_BITS)])
    return signs, planes, step, float(levels.sum())


@dataclass(frozen=True, slots=True)
class Block:
    vectors: Matrix
    seqs: npt.NDArray[np.int64]
    ids: npt.NDArray[np.void]
    # Positions of removed rows (skipped until the block is compacted).
    dead: npt.NDArray[np.intp] = field(default_factory=lambda: np.empty(0, dtype=np.intp))
    codes: Codes | None = None
    scale: Matrix | None = None

    @property
    def rows(self) -> int:
        return int(self.seqs.shape[0])

    @property
    def nbytes(self) -> int:
        extra = 0 if self.codes is None or self.scale is None else self.codes.nbytes + self.scale.nbytes
        return self.vectors.nbytes + self.seqs.nbytes + self.ids.nbytes + self.dead.nbytes + extra

    def estimate(self, query: Matrix) -> Matrix:
        """Every row's similarity to ``query`` as its code tells it, up to a constant."""
        assert self.codes is not None and self.scale is not None
        signs, planes, step, total = _query_planes(query)
        rows = self.rows
        # bit set: the row's component and the query's differ in sign
        differ = np.bitwise_xor(self.codes, signs[:, None])
        masked = np.empty_like(differ)
        counts = np.empty(differ.shape, dtype=np.uint8)
        plane_sum = np.empty(rows, dtype=np.uint16)
        disagreement = np.zeros(rows, dtype=np.uint16)
        for plane in range(planes.shape[0]):
            np.bitwise_and(differ, planes[plane][:, None], out=masked)
            np.bitwise_count(masked, out=counts)
            np.sum(counts, axis=0, dtype=np.uint16, out=plane_sum)
            if plane:
                np.left_shift(plane_sum, plane, out=plane_sum)
            np.add(disagreement, plane_sum, out=disagreement)
        # q . sign(x - centre), scaled by the row's mean deviation; q . centre is the same for
        # every row and left out.
        agreement = np.float32(total) - np.float32(2.0) * disagreement.astype(np.float32)
        out: Matrix = agreement * self.scale * np.float32(step)
        return out


@dataclass(frozen=True, slots=True)
class Frozen:
    """The rows as they were when taken: searchable from a worker thread while the owner changes."""

    dims: int
    blocks: tuple[Block, ...]
    centre: Matrix | None

    @property
    def rows(self) -> int:
        return sum(b.rows - b.dead.shape[0] for b in self.blocks)

    @property
    def approximate(self) -> bool:
        """Whether a search may read the codes (and so miss a row) rather than every vector."""
        return any(b.codes is not None and b.rows >= CODE_MIN_ROWS for b in self.blocks)

    def search(self, query: Matrix, k: int, *, exact: bool = False) -> list[tuple[str, float]]:
        """The ``k`` rows most similar to the unit row ``query`` (cosine): (segment id,
        similarity), best first. Exact unless the blocks hold codes and ``exact`` is not asked."""
        if k <= 0:
            return []
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        if q.shape[0] != self.dims:
            return []
        scores: list[Matrix] = []
        places: list[tuple[int, npt.NDArray[np.intp]]] = []
        for number, block in enumerate(self.blocks):
            if block.rows == 0:
                continue
            if not exact and block.codes is not None and block.rows >= CODE_MIN_ROWS:
                top, sims = _pooled(block, q, k)
            else:
                top, sims = _scanned(block, q, k)
            scores.append(sims)
            places.append((number, top))
        if not scores:
            return []
        merged = np.concatenate(scores)
        order = np.argsort(-merged, kind="stable")[:k]
        owners = np.concatenate([np.full(t.shape[0], n, dtype=np.intp) for n, t in places])
        positions = np.concatenate([t for _, t in places])
        found: list[tuple[str, float]] = []
        for at in order:
            similarity = float(merged[at])
            if similarity == -np.inf:
                break
            block = self.blocks[int(owners[at])]
            found.append((str(uuid.UUID(bytes=block.ids[int(positions[at])].tobytes())), similarity))
        return found


def _products(matrix: Matrix, query: Matrix) -> Matrix:
    """``matrix @ query`` in numpy's own vectorised loop, on this thread: faster here than
    OpenBLAS's sgemv (which reads the matrix no faster, wakes helper threads that then spin,
    and under load waits for them), and it never competes with the server for cores."""
    out: Matrix = np.einsum("ij,j->i", matrix, query)
    return out


def _best(sims: Matrix, k: int) -> npt.NDArray[np.intp]:
    if sims.shape[0] <= k:
        return np.arange(sims.shape[0])
    cut = sims.shape[0] - k
    return np.argpartition(sims, cut)[cut:]


def _scanned(block: Block, query: Matrix, k: int) -> tuple[npt.NDArray[np.intp], Matrix]:
    sims = _products(block.vectors, query)
    if block.dead.shape[0]:
        sims[block.dead] = -np.inf
    top = _best(sims, k)
    return top, sims[top]


def _pooled(block: Block, query: Matrix, k: int) -> tuple[npt.NDArray[np.intp], Matrix]:
    estimate = block.estimate(query)
    if block.dead.shape[0]:
        estimate[block.dead] = -np.inf
    pool = np.sort(_best(estimate, max(POOL_MIN, POOL_PER_RESULT * k)))
    sims = _products(block.vectors[pool], query)
    if block.dead.shape[0]:
        sims[estimate[pool] == -np.inf] = -np.inf
    top = _best(sims, k)
    return pool[top], sims[top]


def _merged(first: Block, second: Block) -> Block:
    """One block holding both blocks' rows, in order (removed rows still marked)."""
    out = Block(
        np.concatenate([first.vectors, second.vectors]),
        np.concatenate([first.seqs, second.seqs]),
        np.concatenate([first.ids, second.ids]),
        np.concatenate([first.dead, second.dead + first.rows]).astype(np.intp),
    )
    if first.codes is not None and second.codes is not None:
        assert first.scale is not None and second.scale is not None
        codes = np.ascontiguousarray(np.concatenate([first.codes, second.codes], axis=1))
        out = replace(out, codes=codes, scale=np.concatenate([first.scale, second.scale]))
    return out


@dataclass(slots=True)
class DatasetVectors:
    """One dataset's vectors in one process."""

    dims: int
    version: int
    codes: bool = False
    blocks: list[Block] = field(default_factory=list)
    tail: list[tuple[int, bytes, Matrix]] = field(default_factory=list)
    # The seqs of removed rows still in a block (skipped until it is compacted).
    dead: set[int] = field(default_factory=set)
    rows: int = 0
    centre: Matrix | None = None

    @classmethod
    def load(
        cls,
        seqs: Sequence[int],
        segment_ids: Sequence[str],
        blobs: Sequence[bytes],
        version: int,
        *,
        codes: bool,
    ) -> DatasetVectors | None:
        if not blobs:
            return None
        dims = len(blobs[0]) // 4
        matrix: Matrix
        if all(len(blob) == dims * 4 for blob in blobs):
            # one copy, and the array is a view of it (little-endian float32: no conversion here)
            joined = np.frombuffer(b"".join(blobs), dtype="<f4").astype(np.float32, copy=False)
            matrix = joined.reshape(len(blobs), dims)
        else:
            matrix = np.empty((len(blobs), dims), dtype=np.float32)
            for i, blob in enumerate(blobs):
                if len(blob) == dims * 4:
                    matrix[i] = np.frombuffer(blob, dtype="<f4")
                else:  # an entry of another model: never a match
                    matrix[i] = 0.0
        out = cls(dims, version, codes=codes)
        out._append(matrix, np.asarray(seqs, dtype=np.int64), _id_array(segment_ids))
        out.rows = len(blobs)
        return out

    @property
    def raw_bytes(self) -> int:
        """The size of the vectors themselves."""
        return self.rows * self.dims * 4

    @property
    def held_bytes(self) -> int:
        """What this object holds in arrays (vectors, ids, seqs, codes)."""
        held = sum(b.nbytes for b in self.blocks)
        if self.centre is not None:
            held += self.centre.nbytes
        return held + sum(v.nbytes + 24 for _, _, v in self.tail)

    def _append(self, vectors: Matrix, seqs: npt.NDArray[np.int64], ids: npt.NDArray[np.void]) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        block = Block(vectors, seqs, ids)
        if self.codes:
            if self.centre is None:
                self.centre = np.ascontiguousarray(vectors.mean(axis=0, dtype=np.float32))
            code, scale = _codes(vectors, self.centre)
            block = replace(block, codes=code, scale=scale)
        self.blocks.append(block)
        # Blocks written here are merged as they grow (each at least twice the size of the next):
        # a few blocks however many writes, and each row copied a few times at most.
        while len(self.blocks) >= 2 and self.blocks[-2].rows <= 2 * self.blocks[-1].rows:
            self.blocks[-2:] = [_merged(self.blocks[-2], self.blocks[-1])]

    def add(self, seqs: Sequence[int], segment_ids: Sequence[str], vectors: Matrix) -> None:
        for seq, segment_id, row in zip(seqs, segment_ids, vectors, strict=True):
            self.tail.append((seq, uuid.UUID(segment_id).bytes, row))
        self.rows += len(seqs)
        if len(self.tail) >= TAIL_ROWS:
            self._seal_tail()

    def remove(self, seqs: Sequence[int]) -> None:
        gone = set(seqs) - self.dead
        if not gone:
            return
        in_tail = [entry for entry in self.tail if entry[0] in gone]
        if in_tail:
            self.tail = [entry for entry in self.tail if entry[0] not in gone]
            self.rows -= len(in_tail)
            gone -= {seq for seq, _, _ in in_tail}
        wanted = np.fromiter(gone, dtype=np.int64, count=len(gone))
        for number, block in enumerate(self.blocks):
            # (two writes of this process may append their rows out of seq order)
            hit = np.flatnonzero(np.isin(block.seqs, wanted))
            if hit.shape[0]:
                dead = np.union1d(block.dead, hit.astype(np.intp))
                self.blocks[number] = replace(block, dead=dead)
                self.dead.update(int(s) for s in block.seqs[hit])
        if len(self.dead) > DEAD_SHARE * max(self.rows, 1):
            self._compact()

    def _seal_tail(self) -> None:
        if not self.tail:
            return
        vectors = np.stack([row for _, _, row in self.tail]).astype(np.float32, copy=False)
        seqs = np.asarray([seq for seq, _, _ in self.tail], dtype=np.int64)
        ids = np.frombuffer(b"".join(key for _, key, _ in self.tail), dtype="V16").copy()
        self.tail = []
        self._append(vectors, seqs, ids)

    def _compact(self) -> None:
        self._seal_tail()
        kept: list[Block] = []
        for block in self.blocks:
            if not block.dead.shape[0]:
                kept.append(block)
                continue
            alive = np.ones(block.rows, dtype=bool)
            alive[block.dead] = False
            if alive.any():
                trimmed = Block(
                    np.ascontiguousarray(block.vectors[alive]), block.seqs[alive], block.ids[alive]
                )
                if block.codes is not None and block.scale is not None:
                    trimmed = replace(
                        trimmed, codes=np.ascontiguousarray(block.codes[:, alive]), scale=block.scale[alive]
                    )
                kept.append(trimmed)
        self.blocks = kept
        self.rows -= len(self.dead)
        self.dead = set()

    def search(self, query: Matrix, k: int, *, exact: bool = False) -> list[tuple[str, float]]:
        """The ``k`` nearest rows by cosine similarity: (segment id, similarity), best first."""
        return self.frozen().search(query, k, exact=exact)

    def frozen(self) -> Frozen:
        """The rows as they are now, searchable from another thread while this one changes."""
        self._seal_tail()
        return Frozen(self.dims, tuple(self.blocks), self.centre)
