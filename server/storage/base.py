"""The storage Protocol every backend implements: sqlite_vec, cloudflare, and hybrid (sqlite_vec plus a
cloud copy kept in step by server/sync).

Frozen dataclasses cross this boundary. Backends own their embeddings (sqlite_vec embeds locally,
cloudflare asks Workers AI), so they take text, not vectors. Methods are synchronous: the service runs
them in a worker thread, which keeps backends simple and the event loop free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from server.record import Memory, MetadataChange
from server.record.status import Health, SyncReport, SyncStatus


@dataclass(frozen=True)
class Why:
    """Why a search result ranked where it did: the parts of its score (server/search/fusion.py)."""

    meaning: float  # cosine similarity to the question
    words: float  # the strength of its word match as counted (0..1: BM25 scaled, times its share of the words)
    words_weight: float  # how much words counted for this question (0: asked in other words, meaning ranked)
    identifier_bonus: float  # added when it holds every identifier of the question
    matched_words: tuple[str, ...] = ()  # the question's words it holds


@dataclass(frozen=True)
class ScoredMemory:
    memory: Memory
    similarity: float  # the search's score clipped to 0..1 (semantic: cosine similarity, 1 = same direction)
    why: Why | None = None


@dataclass(frozen=True)
class MemoryFilter:
    """Restricts which memories a search or listing may return. Empty means no restriction."""

    tags: tuple[str, ...] = ()
    match_all: bool = False
    memory_type: str | None = None
    start: float | None = None  # created_at >= start (epoch seconds)
    end: float | None = None  # created_at < end
    contains: str | None = None  # the content holds this text (any case)
    exclude_types: tuple[str, ...] = ()  # none of these types (a memory without a type passes)

    @property
    def is_empty(self) -> bool:
        return (not self.tags and self.memory_type is None and self.start is None and self.end is None
                and not self.contains and not self.exclude_types)


class BulkImport(Protocol):
    """An ability of every backend: bring in memories as they are (times kept), in batches."""

    def known(self, hashes: Sequence[str]) -> tuple[set[str], dict[str, float]]:
        """Which of these hashes are stored, and which were deleted here (hash -> deleted_at)."""

    def import_batch(self, memories: Sequence[Memory]) -> int:
        """Store these memories, embedded in one batch, each with its row, vector and tags in one transaction
        (no half-imported memory); skips hashes already stored. Returns how many were stored now."""


class MemoryStorage(BulkImport, Protocol):
    """What every backend does (bulk import included); the abilities only some have are the Protocols below."""

    backend_name: str

    def open(self) -> None:
        """Connect and migrate. Must be quick: the MCP handshake waits for it."""

    def warm_up(self) -> None:
        """Load what makes the first search fast (models, indexes). Runs in the background."""

    def close(self) -> None: ...

    def store(self, memory: Memory) -> tuple[Memory, bool]:
        """Store a memory; returns (the stored memory, created). Same content hash: (existing, False)."""

    def get(self, content_hash: str) -> Memory | None: ...

    def search(
        self, query: str, n_results: int, where: MemoryFilter, min_similarity: float = 0.0, mode: str = "hybrid"
    ) -> list[ScoredMemory]:
        """The n most similar memories that pass `where`, most similar first. Never writes."""

    def page(self, where: MemoryFilter, offset: int, limit: int) -> tuple[list[Memory], int]:
        """Memories that pass `where`, newest first, and how many pass in all."""

    def update_metadata(self, content_hash: str, change: MetadataChange, now: float) -> Memory | None: ...

    def delete(self, content_hash: str) -> bool: ...

    def delete_where(self, where: MemoryFilter) -> Sequence[str]:
        """Delete every memory that passes `where`; returns their content hashes."""

    def stats(self) -> dict[str, Any]:
        """The user's memories counted, per day (recent days), their most used tags, the tags and types in use."""
        ...

    def health(self) -> Health: ...


@runtime_checkable
class GraphStore(Protocol):
    """An ability of the backends with a local database (sqlite_vec, hybrid): the association graph table
    (storage/local/graph_table.py: candidates, connected, shortest_path, clusters, rebuild)."""

    graph: Any


@runtime_checkable
class Syncing(Protocol):
    """An ability of the hybrid backend: a cloud copy kept in step."""

    def sync_status(self) -> SyncStatus: ...

    def force_sync(self) -> SyncReport: ...
