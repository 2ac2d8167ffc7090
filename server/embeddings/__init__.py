"""Embedding engines."""

ENGINES = ("onnx", "sentence-transformers")  # MCP_EMBEDDING_ENGINE: the torch-free default, or the extra
