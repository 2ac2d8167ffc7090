"""What every embedding engine offers: the narrow interface the storage depends on.

Both engines run the same model (all-MiniLM-L6-v2) and give the same vectors (cosine >= 0.999), so a
database written with one can be searched with the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from server.record.status import EmbeddingStatus

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_DIMENSION = 384
# The model was trained on 256 word pieces; sentence-transformers cuts there too, so both engines agree.
MAX_TOKENS = 256
# Texts per model run: bounds memory (batch x longest x 384 floats) on large imports.
BATCH_SIZE = 32


class Embedder(Protocol):
    engine: str
    model_name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One float32 row per text, shape (len(texts), dimension), each row of unit length."""
        ...


def no_embeddings(dimension: int = MODEL_DIMENSION) -> np.ndarray:
    """The result for an empty input: zero rows, but still the right width for stacking."""
    return np.zeros((0, dimension), dtype=np.float32)


def as_text_list(texts: Sequence[str]) -> list[str]:
    # A bare string is a Sequence[str] too; embedding it letter by letter is never what was meant.
    if isinstance(texts, str):
        raise TypeError("embed() takes a list of texts, not a single string: use embed([text])")
    return list(texts)


def embedder_status(embedder: Embedder) -> EmbeddingStatus:
    """What health reports of an engine; the background loader also says whether it is ready."""
    status = getattr(embedder, "status", None)
    if callable(status):
        return EmbeddingStatus(**status())
    return EmbeddingStatus(engine=embedder.engine, model=embedder.model_name, dimension=embedder.dimension)
