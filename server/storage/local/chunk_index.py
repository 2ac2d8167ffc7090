"""The vectors of long memories' further windows (`memory_chunks`), mirrored in memory for search.

A scan in SQL costs ~2 ms per 1,000 windows; a matrix product over the same vectors costs ~0.1 ms. The
mirror is checked against the table on each search (its row count and largest id, one indexed query) and
read again when another process added or removed windows: they change rarely, only with long memories.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class ChunkIndex:
    def __init__(self) -> None:
        self._memory_ids = np.empty(0, dtype=np.int64)
        self._vectors = np.empty((0, 0), dtype=np.float32)
        self._seen: tuple[int, int] | None = None  # (count, max id) of the table when read

    def best(self, conn: Any, vector: np.ndarray, k: int, allowed: np.ndarray | None = None,
             only: np.ndarray | None = None) -> dict[int, float]:
        """The best window score of each long memory, for the k best memories (those in `allowed` when
        given; exactly the memories in `only` when given)."""
        self._refresh(conn, len(vector))
        if not len(self._memory_ids):
            return {}
        keep = np.ones(len(self._memory_ids), dtype=bool)
        for ids in (allowed, only):
            if ids is not None:
                keep &= np.isin(self._memory_ids, ids)
        if not keep.any():
            return {}
        memory_ids, scores = self._memory_ids[keep], self._vectors[keep] @ vector
        order = np.argsort(-scores, kind="stable")
        best: dict[int, float] = {}
        for row in order:  # best window first: the first time a memory appears is its score
            memory_id = int(memory_ids[row])
            if memory_id not in best:
                best[memory_id] = float(scores[row])
                if len(best) >= k and only is None:
                    break
        return best

    def _refresh(self, conn: Any, dimension: int) -> None:
        seen = tuple(conn.execute("SELECT count(*), coalesce(max(id), 0) FROM memory_chunks").fetchone())
        if seen == self._seen:
            return
        rows = conn.execute("SELECT memory_id, embedding FROM memory_chunks ORDER BY id").fetchall()
        self._memory_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        self._vectors = np.zeros((len(rows), dimension), dtype=np.float32)
        for n, (_, blob) in enumerate(rows):
            self._vectors[n] = np.frombuffer(blob, dtype=np.float32)
        self._seen = seen
