"""The local graph of associations between memories.

Associations are memories themselves (tagged `association`, with `source_hash` / `target_hash` /
`similarity` in their metadata), so they sync like any memory. The `memory_graph` table is derived from
them, local only, and can always be rebuilt. Edges are undirected and stored once, with
source_hash < target_hash.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from server.storage.base import Memory

ASSOCIATION_TAG = "association"


@dataclass(frozen=True)
class Edge:
    source_hash: str
    target_hash: str
    similarity: float
    association_hash: str


def edge_of(memory: Memory) -> Edge | None:
    """The edge an association memory describes, or None for any other memory (or malformed metadata)."""
    if ASSOCIATION_TAG not in memory.tags:
        return None
    meta = memory.metadata
    source, target = meta.get("source_hash"), meta.get("target_hash")
    if not isinstance(source, str) or not isinstance(target, str) or source == target:
        return None
    try:
        similarity = float(meta.get("similarity", 0.0))
    except (TypeError, ValueError):
        similarity = 0.0
    low, high = sorted((source, target))
    return Edge(low, high, similarity, memory.content_hash)


def write_edges(conn: Any, memories: Iterable[Memory]) -> int:
    """Record the edges of the association memories among `memories`; call inside a write transaction."""
    edges = [e for e in map(edge_of, memories) if e is not None]
    conn.executemany(
        "INSERT OR REPLACE INTO memory_graph (source_hash, target_hash, similarity, association_hash) "
        "VALUES (?, ?, ?, ?)",
        [(e.source_hash, e.target_hash, e.similarity, e.association_hash) for e in edges],
    )
    return len(edges)


def remove_edges_touching(conn: Any, hashes: Iterable[str]) -> None:
    """Drop edges described by, or ending at, any of these (deleted) memories; inside a write transaction."""
    rows = [(h, h, h) for h in hashes]
    conn.executemany(
        "DELETE FROM memory_graph WHERE association_hash = ? OR source_hash = ? OR target_hash = ?", rows
    )
