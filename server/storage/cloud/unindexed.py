"""Vectors written to Vectorize that it may not serve yet.

Vectorize applies writes asynchronously: an upsert answers with a mutation id, and the vectors become
queryable once the index has processed it (typically seconds). So that a memory stored here is never
silently missing from the next search, the cloudflare backend keeps the vectors of its own recent writes
and scores them beside the index's answer until the index reports their mutation processed. Writes from
other processes and devices show up once Vectorize has processed them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence

import numpy as np

MAX_AGE = 600.0  # seconds: a bound, far beyond Vectorize's usual delay


class UnindexedVectors:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # vector id -> (written at, its memory's hash, unit vector); a long memory has one per part
        self._vectors: dict[str, tuple[float, str, np.ndarray]] = {}
        self._last_mutation: str | None = None

    def __bool__(self) -> bool:
        return bool(self._vectors)

    @property
    def last_mutation(self) -> str | None:
        return self._last_mutation

    def add(self, items: Iterable[tuple[str, str, Sequence[float]]], mutation: str | None) -> None:
        """(vector id, memory hash, values) of vectors just written, and the mutation that wrote them."""
        now = time.monotonic()
        with self._lock:
            for vector_id, content_hash, values in items:
                vector = np.asarray(values, dtype=np.float32)
                self._vectors[vector_id] = (now, content_hash, vector / (np.linalg.norm(vector) or 1.0))
            if mutation:
                self._last_mutation = mutation

    def remove(self, vector_ids: Iterable[str]) -> None:
        with self._lock:
            for vector_id in vector_ids:
                self._vectors.pop(vector_id, None)

    def settle(self, processed_up_to: str | None) -> None:
        """Forget what the index has processed (our last mutation reached), and anything too old."""
        now = time.monotonic()
        with self._lock:
            if processed_up_to is not None and processed_up_to == self._last_mutation:
                self._vectors.clear()
                return
            for vector_id in [v for v, (at, _, _) in self._vectors.items() if now - at > MAX_AGE]:
                del self._vectors[vector_id]

    def score(self, query: Sequence[float], allowed: set[str] | None) -> dict[str, float]:
        """Memory hash -> cosine similarity of its best waiting vector to the query (among `allowed` memories,
        when given)."""
        q = np.asarray(query, dtype=np.float32)
        q = q / (np.linalg.norm(q) or 1.0)
        with self._lock:
            items = [(h, v) for _, h, v in self._vectors.values() if allowed is None or h in allowed]
        best: dict[str, float] = {}
        for content_hash, vector in items:
            best[content_hash] = max(float(vector @ q), best.get(content_hash, -1.0))
        return best
