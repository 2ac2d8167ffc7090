"""An exact in-memory vector index: a float32 matrix mirrored from the `memory_vectors` table, with int8
codes of the same vectors (server.storage.local.vector_codes).

Why not sqlite-vec's vec0 KNN: it is a brute-force scan without SIMD, ~70-90 ms for top-10 at 100k
vectors on our reference machine; a BLAS matrix-vector product over the same vectors runs at memory
bandwidth (~7 ms). A scan of the int8 codes with a proven error bound picks the few rows that could be
in the top k (~1.5 ms), and the float32 vectors rank those: still exact, so recall is 1.0 by construction.

The matrix keeps rows in ascending memory id (ids come from AUTOINCREMENT and are appended in commit
order), so id -> row is a binary search. Deleted rows are masked and compacted away in bulk.
Thread safety is the caller's job (the storage holds one lock around the index and its connection).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from server.storage.local.vector_codes import Codes, available

# Scoring every row then masking beats gathering candidate rows once they are this share of the index.
_MASK_SHARE = 0.25


class VectorIndex:
    def __init__(self, dimension: int, prefilter: bool = True) -> None:
        self.dimension = dimension
        self.prefilter = prefilter and available()  # False: every search scans the float32 vectors
        self._vectors = np.empty((0, dimension), dtype=np.float32)
        self._codes = Codes.empty(0, dimension)
        self._ids = np.empty(0, dtype=np.int64)
        self._dead = np.empty(0, dtype=bool)
        self._size = 0  # rows in use (alive or dead)
        self._dead_count = 0
        self.last_seq = 0  # the vector_log position this index reflects

    def __len__(self) -> int:
        return self._size - self._dead_count

    @property
    def nbytes(self) -> int:
        return self._vectors.nbytes + self._ids.nbytes + self._dead.nbytes + sum(a.nbytes for a in self._codes.arrays())

    def reset(self, ids: np.ndarray, vectors: np.ndarray, last_seq: int, size: int | None = None) -> None:
        """Take over `ids` and `vectors` without copying; rows from `size` on are spare capacity."""
        size = len(ids) if size is None else size
        ids = np.asarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if size > 1 and np.any(ids[1:size] < ids[: size - 1]):
            order = np.argsort(ids[:size], kind="stable")
            ids[:size], vectors[:size] = ids[:size][order], vectors[:size][order]
        self._ids, self._vectors = ids, vectors
        self._codes = Codes.empty(len(ids), self.dimension)
        self._codes.set(0, vectors[:size])
        self._dead = np.zeros(len(ids), dtype=bool)
        self._dead[size:] = True
        self._size = size
        self._dead_count = 0
        self.last_seq = last_seq

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Append rows; ids already present are ignored (replaying the log is harmless)."""
        new = [i for i, memory_id in enumerate(ids) if not self.contains(memory_id)]
        if not new:
            return
        new_ids = np.asarray([ids[i] for i in new], dtype=np.int64)
        self._reserve(self._size + len(new))
        start, stop = self._size, self._size + len(new)
        self._ids[start:stop] = new_ids
        self._vectors[start:stop] = vectors[new]
        self._codes.set(start, self._vectors[start:stop])
        self._dead[start:stop] = False
        self._size = stop
        if start and new_ids.min() < self._ids[start - 1] or np.any(np.diff(new_ids) < 0):
            self._sort()

    def remove(self, ids: Iterable[int]) -> None:
        for memory_id in ids:
            row = self._row_of(memory_id)
            if row is not None and not self._dead[row]:
                self._dead[row] = True
                self._dead_count += 1
        if self._dead_count > max(1024, self._size // 4):
            self._compact()

    def contains(self, memory_id: int) -> bool:
        row = self._row_of(memory_id)
        return row is not None and not self._dead[row]

    def search(self, query: np.ndarray, k: int, candidates: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The k nearest (id, cosine) pairs, best first; restricted to `candidates` ids when given."""
        if k <= 0 or len(self) == 0:
            return []
        query = np.asarray(query, dtype=np.float32)
        if candidates is None:
            rows = None
        else:
            rows = self._rows_of(candidates)
            if rows.size == 0:
                return []
        if rows is not None and rows.size < _MASK_SHARE * self._size:
            scores = self._vectors[rows] @ query
            return self._top(scores, rows, k)
        keep = ~self._dead[: self._size]
        if rows is not None:
            wanted = np.zeros(self._size, dtype=bool)
            wanted[rows] = True
            keep &= wanted
        k = min(k, int(keep.sum()))
        if k <= 0:
            return []
        if self.prefilter:
            rows = self._codes.may_be_top(query, k, keep)
            with np.errstate(invalid="ignore", over="ignore"):
                return self._top(self._vectors[rows] @ query, rows, k)
        with np.errstate(invalid="ignore", over="ignore"):
            scores = self._vectors[: self._size] @ query
        scores[~keep] = -np.inf
        return self._top(scores, None, k)

    def _top(self, scores: np.ndarray, rows: np.ndarray | None, k: int) -> list[tuple[int, float]]:
        k = min(k, scores.size)
        scores[~np.isfinite(scores)] = -np.inf  # a damaged vector (NaN, inf) ranks last, never first
        best = np.argpartition(-scores, k - 1)[:k] if k < scores.size else np.arange(scores.size)
        best = best[np.argsort(-scores[best], kind="stable")]
        picked = best if rows is None else rows[best]
        return [(int(self._ids[row]), float(scores[i])) for row, i in zip(picked, best)]

    def _rows_of(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        live_ids = self._ids[: self._size]
        rows = np.searchsorted(live_ids, ids)
        inside = rows < self._size
        rows, ids = rows[inside], ids[inside]
        rows = rows[live_ids[rows] == ids]
        return rows[~self._dead[rows]]

    def _row_of(self, memory_id: int) -> int | None:
        row = int(np.searchsorted(self._ids[: self._size], memory_id))
        if row < self._size and self._ids[row] == memory_id:
            return row
        return None

    def _reserve(self, needed: int) -> None:
        capacity = len(self._ids)
        if needed <= capacity:
            return
        # Grow by a quarter: at 100k memories a doubling would hold 150 MB of empty rows.
        new_capacity = max(needed, 1024, capacity + capacity // 4)
        vectors = np.empty((new_capacity, self.dimension), dtype=np.float32)
        vectors[: self._size] = self._vectors[: self._size]
        ids = np.zeros(new_capacity, dtype=np.int64)
        ids[: self._size] = self._ids[: self._size]
        dead = np.ones(new_capacity, dtype=bool)
        dead[: self._size] = self._dead[: self._size]
        self._vectors, self._ids, self._dead = vectors, ids, dead
        self._codes = self._codes.resized(new_capacity, self._size)

    def _sort(self) -> None:
        order = np.argsort(self._ids[: self._size], kind="stable")
        self._ids[: self._size] = self._ids[: self._size][order]
        self._vectors[: self._size] = self._vectors[: self._size][order]
        self._dead[: self._size] = self._dead[: self._size][order]
        self._codes.reorder(order)

    def _compact(self) -> None:
        """Drop the dead rows (and the spare capacity); the codes are kept, not computed again."""
        alive = np.flatnonzero(~self._dead[: self._size])
        self._ids, self._vectors = self._ids[alive], self._vectors[alive]
        self._codes = self._codes.subset(alive)
        self._dead = np.zeros(len(alive), dtype=bool)
        self._size, self._dead_count = len(alive), 0
