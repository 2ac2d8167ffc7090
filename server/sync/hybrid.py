"""The hybrid backend: every call is served by the local sqlite_vec store; a background worker keeps a
Cloudflare copy in step (server/sync). Writes queue their memory in the outbox inside the same local
transaction, so nothing is lost between the local write and the cloud, whatever happens to the process."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from server.record.status import Health, SyncReport, SyncStatus
from server.settings import HybridSettings
from server.record import Memory, MetadataChange
from server.storage.base import MemoryFilter, ScoredMemory
from server.storage.cloud.cloudflare import CloudflareStorage
from server.storage.local.sqlite_vec import SqliteVecStorage
from server.sync.engine import SyncEngine
from server.sync.worker import POLL_SECONDS, SyncWorker


class HybridStorage:
    backend_name = "hybrid"

    def __init__(self, local: SqliteVecStorage, cloud: CloudflareStorage, config: HybridSettings,
                 may_own_sync: bool = True, poll: float = POLL_SECONDS) -> None:
        self.local, self.cloud = local, cloud
        if not local.outbox:
            raise ValueError("a hybrid setup's local store queues its changes: make it with outbox=True (local_store)")
        self.graph = local.graph  # the graph lives in the local database
        self.engine = SyncEngine(local, cloud.replica, config)
        lock_path = local.path.with_name(local.path.name + ".sync.lock")
        self.worker = SyncWorker(self.engine, config, lock_path, may_own_sync, poll)

    def open(self) -> None:
        self.local.open()  # never the cloud here: start-up must not wait for it, or fail without it
        self.worker.start()

    def warm_up(self) -> None:
        self.local.warm_up()

    def close(self) -> None:
        self.worker.stop()
        self.local.close()
        self.cloud.close()

    def store(self, memory: Memory) -> tuple[Memory, bool]:
        stored, created = self.local.store(memory)
        if created:
            self.worker.nudge()
        return stored, created

    def get(self, content_hash: str) -> Memory | None:
        return self.local.get(content_hash)

    def stats(self) -> dict[str, Any]:
        return self.local.stats()

    def search(self, query: str, n_results: int, where: MemoryFilter, min_similarity: float = 0.0,
               mode: str = "hybrid") -> list[ScoredMemory]:
        return self.local.search(query, n_results, where, min_similarity, mode)

    def page(self, where: MemoryFilter, offset: int, limit: int) -> tuple[list[Memory], int]:
        return self.local.page(where, offset, limit)

    def update_metadata(self, content_hash: str, change: MetadataChange, now: float) -> Memory | None:
        updated = self.local.update_metadata(content_hash, change, now)
        self.worker.nudge()
        return updated

    def delete(self, content_hash: str) -> bool:
        deleted = self.local.delete(content_hash)
        self.worker.nudge()
        return deleted

    def delete_where(self, where: MemoryFilter) -> Sequence[str]:
        deleted = self.local.delete_where(where)
        self.worker.nudge()
        return deleted

    def known(self, hashes: Sequence[str]) -> tuple[set[str], dict[str, float]]:
        return self.local.known(hashes)

    def import_batch(self, memories: Sequence[Memory]) -> int:
        stored = self.local.import_batch(memories)
        if stored:
            self.worker.nudge()
        return stored

    def sync_status(self) -> SyncStatus:
        return self.worker.status()

    def force_sync(self) -> SyncReport:
        return self.worker.force()

    def health(self) -> Health:
        return self.local.health().model_copy(update={"backend": self.backend_name, "sync": self.sync_status()})
