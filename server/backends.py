"""Pick the storage backend named by the settings and compose it (hybrid = the local store plus the sync).
Backends are imported lazily: a backend's dependencies are needed only when it is chosen."""

from __future__ import annotations

from server.embeddings.background import BackgroundEmbedder
from server.errors import SettingsError
from server.settings import Settings
from server.storage.base import MemoryStorage


def create_storage(settings: Settings) -> MemoryStorage:
    if settings.storage_backend == "sqlite_vec":
        from server.storage.local.sqlite_vec import SqliteVecStorage

        embedder = BackgroundEmbedder(settings.embedding_engine, settings.embedding_model)
        return SqliteVecStorage(settings.database_path, settings.sqlite_pragmas, embedder)
    if settings.uses_cloud and settings.cloudflare is not None:
        cloud = _cloudflare(settings)
        if settings.storage_backend == "cloudflare":
            return cloud
        from server.sync.hybrid import HybridStorage
        from server.storage.local.sqlite_vec import SqliteVecStorage

        embedder = BackgroundEmbedder(settings.embedding_engine, settings.embedding_model)
        local = SqliteVecStorage(settings.database_path, settings.sqlite_pragmas, embedder)
        owner = settings.hybrid.sync_owner
        may_own = owner == "both" or owner == ("http" if settings.transport == "http" else "mcp")
        return HybridStorage(local, cloud, settings.hybrid, may_own_sync=may_own)
    raise SettingsError("MCP_MEMORY_STORAGE_BACKEND", settings.storage_backend,
                        "the cloudflare and hybrid backends need the CLOUDFLARE_* settings")


def _cloudflare(settings: Settings) -> MemoryStorage:
    from server.cloudflare.client import CloudflareClient
    from server.storage.cloud.cloudflare import CloudflareStorage

    cf = settings.cloudflare
    assert cf is not None
    client = CloudflareClient(cf.api_token, cf.account_id, base_url=cf.api_base_url)
    return CloudflareStorage(client, cf.d1_database_id, cf.vectorize_index, cf.embedding_model)
