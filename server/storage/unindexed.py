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
        self._vectors: dict[str, tuple[float, np.ndarray]] = {}  # hash -> (written at, unit vector)
        self._last_mutation: str | None = None

    def __bool__(self) -> bool:
        return bool(self._vectors)

    @property
    def last_mutation(self) -> str | None:
        return self._last_mutation

    def add(self, items: Iterable[tuple[str, Sequence[float]]], mutation: str | None) -> None:
        now = time.monotonic()
        with self._lock:
            for content_hash, values in items:
                vector = np.asarray(values, dtype=np.float32)
                self._vectors[content_hash] = (now, vector / (np.linalg.norm(vector) or 1.0))
            if mutation:
                self._last_mutation = mutation

    def remove(self, hashes: Iterable[str]) -> None:
        with self._lock:
            for content_hash in hashes:
                self._vectors.pop(content_hash, None)

    def settle(self, processed_up_to: str | None) -> None:
        """Forget what the index has processed (our last mutation reached), and anything too old."""
        now = time.monotonic()
        with self._lock:
            if processed_up_to is not None and processed_up_to == self._last_mutation:
                self._vectors.clear()
                return
            for content_hash in [h for h, (at, _) in self._vectors.items() if now - at > MAX_AGE]:
                del self._vectors[content_hash]

    def score(self, query: Sequence[float], allowed: set[str] | None) -> list[tuple[str, float]]:
        """Cosine similarity of each waiting vector (among `allowed`, when given) to the query."""
        q = np.asarray(query, dtype=np.float32)
        q = q / (np.linalg.norm(q) or 1.0)
        with self._lock:
            items = [(h, v) for h, (_, v) in self._vectors.items() if allowed is None or h in allowed]
        return [(h, float(v @ q)) for h, v in items]
