"""Pick the storage backend named by the settings and compose it (hybrid = the local store plus the sync).
Backends are imported lazily: a backend's dependencies are needed only when it is chosen.

Every caller that needs the local store (the server, the commands, the installer's import and doctor) makes it
here, so it is made one way: `local_store`, or `open_local` for a while."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from server.errors import SettingsError
from server.settings import Settings
from server.storage.base import MemoryStorage

if TYPE_CHECKING:
    from server.embeddings.base import Embedder
    from server.storage.local.sqlite_vec import SqliteVecStorage
    from server.storage.cloud.cloudflare import CloudflareStorage


def create_storage(settings: Settings) -> MemoryStorage:
    if settings.storage_backend == "sqlite_vec":
        return local_store(settings)
    if settings.uses_cloud and settings.cloudflare is not None:
        cloud = _cloudflare(settings)
        if settings.storage_backend == "cloudflare":
            return cloud
        from server.sync.hybrid import HybridStorage

        owner = settings.hybrid.sync_owner
        may_own = owner == "both" or owner == ("http" if settings.transport == "http" else "mcp")
        return HybridStorage(local_store(settings), cloud, settings.hybrid, may_own_sync=may_own)
    raise SettingsError("MCP_MEMORY_STORAGE_BACKEND", settings.storage_backend,
                        "the cloudflare and hybrid backends need the CLOUDFLARE_* settings")


def local_store(settings: Settings, outbox: bool | None = None, embedder: Embedder | None = None) -> SqliteVecStorage:
    """The local SQLite store these settings name (not opened). `outbox`: queue every change for the cloud copy
    (default: when the backend is hybrid, whose sync sends them); `embedder`: default, the configured engine,
    loaded in the background."""
    from server.embeddings.background import BackgroundEmbedder
    from server.storage.local.sqlite_vec import SqliteVecStorage

    if embedder is None:
        embedder = BackgroundEmbedder(settings.embedding_engine, settings.embedding_model)
    queue = settings.storage_backend == "hybrid" if outbox is None else outbox
    return SqliteVecStorage(settings.database_path, settings.sqlite_pragmas, embedder, outbox=queue)


@contextmanager
def open_local(settings: Settings, outbox: bool | None = None,
               embedder: Embedder | None = None) -> Iterator[SqliteVecStorage]:
    """The local store, open for the length of the block (a command, an import, a check)."""
    store = local_store(settings, outbox, embedder)
    store.open()
    try:
        yield store
    finally:
        store.close()


def _cloudflare(settings: Settings) -> CloudflareStorage:
    from server.cloudflare.client import CloudflareClient
    from server.storage.cloud.cloudflare import CloudflareStorage

    cf = settings.cloudflare
    assert cf is not None
    client = CloudflareClient(cf.api_token, cf.account_id, base_url=cf.api_base_url)
    return CloudflareStorage(client, cf.d1_database_id, cf.vectorize_index, cf.embedding_model)
