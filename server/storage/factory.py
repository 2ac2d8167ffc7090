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
    if settings.storage_backend == "cloudflare" and settings.cloudflare is not None:
        from server.cloudflare.client import CloudflareClient
        from server.storage.cloudflare import CloudflareStorage

        cf = settings.cloudflare
        client = CloudflareClient(cf.api_token, cf.account_id, base_url=cf.api_base_url)
        return CloudflareStorage(client, cf.d1_database_id, cf.vectorize_index, cf.embedding_model)
    raise SettingsError(
        "MCP_MEMORY_STORAGE_BACKEND",
        settings.storage_backend,
        "this version of the server supports sqlite_vec and cloudflare (hybrid comes next)",
    )
