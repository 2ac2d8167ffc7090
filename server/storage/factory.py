"""Pick the storage backend named by the settings. Backends are imported lazily: a backend's
dependencies are needed only when it is chosen."""

from __future__ import annotations

from server.embeddings.background import BackgroundEmbedder
from server.errors import SettingsError
from server.settings import Settings
from server.storage.base import MemoryStorage


def create_storage(settings: Settings) -> MemoryStorage:
    if settings.storage_backend == "sqlite_vec":
        from server.storage.sqlite_vec import SqliteVecStorage

        embedder = BackgroundEmbedder(settings.embedding_engine, settings.embedding_model)
        return SqliteVecStorage(settings.database_path, settings.sqlite_pragmas, embedder)
    raise SettingsError(
        "MCP_MEMORY_STORAGE_BACKEND",
        settings.storage_backend,
        "this version of the server supports only sqlite_vec; set MCP_MEMORY_STORAGE_BACKEND=sqlite_vec",
    )
