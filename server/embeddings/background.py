"""Load the embedding engine in a daemon thread, so the MCP handshake never waits for the model.

The storage can open, migrate and answer requests that need no vectors while the model loads; the
first call that needs vectors waits for it. A failed load is kept and reported on every call (and in
status()), rather than retried: the cause (a missing extra, a broken install) will not fix itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from server.embeddings.base import MODEL_DIMENSION, Embedder
from server.embeddings.factory import load_embedder
from server.errors import EmbeddingError

logger = logging.getLogger(__name__)

# Generous: a cold start of the torch engine on a slow disk can take tens of seconds.
LOAD_TIMEOUT_SECONDS = 300.0


class BackgroundEmbedder:
    def __init__(self, engine: str, model_name: str, loader: Callable[[str, str], Embedder] = load_embedder,
                 timeout: float = LOAD_TIMEOUT_SECONDS) -> None:
        self.engine = engine
        self.model_name = model_name
        self.dimension = MODEL_DIMENSION  # known before loading: the storage needs it to open its tables
        self._loader = loader
        self._timeout = timeout
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._embedder: Embedder | None = None
        self._error: Exception | None = None
        self._load_seconds: float | None = None

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._load, name="embedding-loader", daemon=True)
                self._thread.start()

    @property
    def ready(self) -> bool:
        return self._embedder is not None

    def settle(self, timeout: float) -> None:
        """At shutdown: let a load in progress finish, so the process does not exit while native code
        (onnxruntime, torch) is still building the model in another thread, which aborts the process."""
        if self._thread is not None:
            self._done.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loading has finished (successfully or not); False if it is still going."""
        self.start()
        return self._done.wait(self._timeout if timeout is None else timeout)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not self.wait():
            raise EmbeddingError(
                f"the {self.engine} embedding engine is still loading after {self._timeout:.0f} s; "
                "try again shortly, or set MCP_EMBEDDING_ENGINE=onnx, which loads in under a second"
            )
        if self._embedder is None:
            raise EmbeddingError(self._failure_message()) from self._error
        return self._embedder.embed(texts)

    def status(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "model": self.model_name,
            "dimension": self.dimension,
            "ready": self.ready,
            "load_seconds": self._load_seconds,
            "error": None if self.ready or not self._done.is_set() else self._failure_message(),
        }

    def _load(self) -> None:
        began = time.perf_counter()
        try:
            embedder = self._loader(self.engine, self.model_name)
            if embedder.dimension != self.dimension:
                raise EmbeddingError(f"the model gives {embedder.dimension}-d vectors, expected {self.dimension}")
        except Exception as exc:  # noqa: BLE001 - kept for embed() and status(): a thread has no caller to raise to
            self._error = exc
            logger.error("Embedding engine %s failed to load: %s", self.engine, exc)
        else:
            self._load_seconds = round(time.perf_counter() - began, 3)
            self._embedder = embedder
            logger.info("Embedding engine %s ready in %.2f s", self.engine, self._load_seconds)
        finally:
            self._done.set()  # also on BaseException, so no caller waits out the full timeout

    def _failure_message(self) -> str:
        exc = self._error
        if exc is None:  # the thread ended on a BaseException, which it does not keep
            return f"the {self.engine} embedding engine stopped while loading; see the server log"
        # An EmbeddingError already says what to do; anything else needs its type to make sense.
        cause = str(exc) if isinstance(exc, EmbeddingError) else f"{type(exc).__name__}: {exc}"
        return f"the {self.engine} embedding engine could not load: {cause}"
