"""The vectors the local store asks for: one text's (questions repeat, so the last few are kept), and the
further pieces of a long memory (server.search.chunks)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from server.embeddings.base import Embedder
from server.search.chunks import pieces

KEEP = 256  # recent questions whose vectors are kept: a repeated question costs a dictionary lookup


class TextVectors:
    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._recent: dict[str, np.ndarray] = {}  # text -> vector, oldest first
        self._ahead: ThreadPoolExecutor | None = None  # embeds a question while its words are looked up
        self._lock = threading.Lock()

    def soon(self, text: str) -> Callable[[], np.ndarray]:
        """The text's vector, computed meanwhile: call the result when the vector is needed. A search looks up
        the question's words (FTS5) while the model embeds it: both release the GIL, so the two overlap."""
        vector = self._recent.get(text)
        if vector is not None:
            return lambda: vector
        with self._lock:
            if self._ahead is None:
                self._ahead = ThreadPoolExecutor(max_workers=2, thread_name_prefix="question-vector")
            return self._ahead.submit(self.one, text).result

    def close(self) -> None:
        with self._lock:
            if self._ahead is not None:
                self._ahead.shutdown(wait=False, cancel_futures=True)
                self._ahead = None

    def one(self, text: str) -> np.ndarray:
        vector = self._recent.get(text)
        if vector is None:
            vector = np.asarray(self.embedder.embed([text])[0], dtype=np.float32)  # not under the lock: slow
            with self._lock:  # several threads embed at once (searches, stores)
                self._recent[text] = vector
                while len(self._recent) > KEEP:
                    self._recent.pop(next(iter(self._recent)))
        return vector

    def pieces(self, text: str) -> np.ndarray | None:
        """The vectors of a long memory's further pieces; None for a short one."""
        parts = pieces(text)
        return np.asarray(self.embedder.embed(parts), dtype=np.float32) if parts else None
