"""Test helpers for the hybrid backend: devices (local databases) sharing one emulated cloud."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from server.cloudflare.client import CloudflareClient, RetryPolicy
from server.embeddings.base import Embedder
from server.service import MemoryService
from server.settings import DEFAULT_MAX_CONTENT_LENGTH, HybridSettings, parse_pragmas
from server.storage.cloud.cloudflare import CloudflareStorage
from server.sync.hybrid import HybridStorage
from server.storage.local.sqlite_vec import SqliteVecStorage
from tests.support.cloudflare_emulator import ACCOUNT, CloudflareEmulator
from tests.support.database import reading

MODEL = "@cf/baai/bge-base-en-v1.5"
FAST_RETRY = RetryPolicy(max_tries=3, base_delay=0.01, max_delay=0.05)


class Cloud:
    """One emulated Cloudflare account with a D1 database and a Vectorize index."""

    def __init__(self, tmp_path: Path) -> None:
        self.emulator = CloudflareEmulator(tmp_path).start()
        self.emulator.add_index(dimensions=768)
        self.database = self.emulator.add_database()

    def storage(self, retry: RetryPolicy = FAST_RETRY, shared: dict[str, str] | None = None) -> CloudflareStorage:
        client = CloudflareClient("good-token", ACCOUNT, base_url=self.emulator.base_url,
                                  http=httpx.Client(timeout=5), retry=retry)
        return CloudflareStorage(client, self.database, "mcp-memory-index", MODEL, shared)

    def rows(self) -> dict[str, tuple[Any, ...]]:
        """hash -> (tags, memory_type, metadata) as D1 holds them."""
        conn = self.emulator.databases[self.database][1]
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'memories'").fetchone():
            return {}  # no device has opened the database yet
        return {r[0]: r[1:] for r in conn.execute("SELECT content_hash, tags, memory_type, metadata FROM memories")}

    def vector_ids(self) -> set[str]:
        """The vectors Vectorize holds now (writes whose delay has passed are applied first)."""
        index = self.emulator.indexes["mcp-memory-index"]
        self.emulator._settle(index)
        return set(index.vectors)

    def stop(self) -> None:
        self.emulator.stop()


def device(cloud: Cloud, path: Path, embedder: Embedder, may_own_sync: bool = True, retry: RetryPolicy = FAST_RETRY,
           **config: Any) -> HybridStorage:
    """A hybrid store on its own local database; intervals shortened so tests run in seconds. With
    may_own_sync=False no background sync runs: the test drives the engine itself."""
    settings = HybridSettings(**{"sync_interval": 1.0, "drift_check_interval": 3600.0, **config})
    local = SqliteVecStorage(path, parse_pragmas("busy_timeout=15000"), embedder, outbox=True)
    return HybridStorage(local, cloud.storage(retry=retry), settings, may_own_sync=may_own_sync, poll=0.05)


def local_rows(store: HybridStorage) -> dict[str, tuple[Any, ...]]:
    with reading(store.local.path) as conn:
        return {r[0]: r[1:] for r in conn.execute("SELECT content_hash, tags, memory_type, metadata FROM memories")}


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def drained(store: HybridStorage) -> bool:
    status = store.sync_status()
    return status.queue_depth == 0 and status.cloud_reachable is True


def service(store: HybridStorage) -> MemoryService:
    return MemoryService(store, DEFAULT_MAX_CONTENT_LENGTH)  # what the server allows on hybrid
