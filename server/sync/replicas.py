"""The two sides the sync engine works between, as the small Protocols it needs.

The local replica is the local store (server/storage/local/sqlite_vec.py) with its ledger; the remote replica is
the Cloudflare copy (server/storage/cloud/cloudflare.py), whose batched methods raise typed CloudflareErrors so
the engine can tell a retry from a refusal. The engine imports neither class: only these shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from server.record import Memory
from server.storage.local.ledger import SyncLedger


class LocalReplica(Protocol):
    ledger: SyncLedger

    def get(self, content_hash: str) -> Memory | None: ...

    def store_many(self, memories: Sequence[Memory], record: bool) -> int: ...

    def delete_many(self, hashes: Sequence[str], deleted_at: float, record: bool) -> list[str]: ...

    def replace_metadata(self, memory: Memory, record: bool) -> bool: ...


class RemoteReplica(Protocol):
    def open(self) -> None:
        """Check the index and shared settings and migrate; raises StorageError when the cloud refuses."""

    def usage(self) -> dict[str, int]:
        """API calls and D1 rows this replica has cost so far."""

    def put_new(self, memories: Sequence[Memory]) -> list[str]: ...

    def put_metadata(self, memories: Sequence[Memory]) -> None: ...

    def bury(self, deleted: dict[str, float]) -> list[str]: ...

    def fetch(self, hashes: Sequence[str]) -> dict[str, Memory]: ...

    def tombstones(self, hashes: Sequence[str]) -> dict[str, float]: ...

    def changes_since(self, seq: int, limit: int = 1000) -> tuple[list[str], int]: ...

    def oldest_change(self) -> int | None: ...

    def trim_change_log(self, before: float) -> None: ...

    def change_position(self) -> int: ...

    def summaries(self, page_size: int = 1000, since: float | None = None) -> dict[str, tuple[float, float]]: ...

    def all_tombstones(self, page_size: int = 1000, since: float | None = None) -> dict[str, float]: ...

    def repair_orphans(self, since: float, until: float) -> tuple[int, int]: ...
