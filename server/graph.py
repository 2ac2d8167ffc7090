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

import numpy as np

from server.storage.base import Memory
from server.storage.rows import COLUMNS, row_to_memory

ASSOCIATION_TAG = "association"
CLUSTER_TAG = "cluster"


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


# -- rebuilding the table from the association memories --------------------------------------------

def rebuild(conn: Any) -> int:
    """Refill `memory_graph` from every association memory whose two ends exist; inside a write
    transaction. Returns the number of edges."""
    conn.execute("DELETE FROM memory_graph")
    present = {row[0] for row in conn.execute("SELECT content_hash FROM memories")}
    rows = conn.execute(
        f"SELECT {', '.join('m.' + c.strip() for c in COLUMNS.split(','))} FROM memories m "
        "JOIN memory_tags t ON t.memory_id = m.id WHERE t.tag = ?", (ASSOCIATION_TAG,))
    associations = [row_to_memory(row) for row in rows]
    usable = [m for m in associations if (e := edge_of(m)) is not None
              and e.source_hash in present and e.target_hash in present]
    return write_edges(conn, usable)


# -- queries -----------------------------------------------------------------------------------------

# Breadth-first over undirected edges: each memory with the fewest hops it takes to reach it. UNION (not
# UNION ALL) keeps one row per (memory, hops), which bounds the work by memories x hops, even with cycles.
_WALK = """
WITH RECURSIVE walk(hash, hops) AS (
    SELECT ?, 0
    UNION
    SELECT CASE WHEN g.source_hash = w.hash THEN g.target_hash ELSE g.source_hash END, w.hops + 1
    FROM walk w JOIN memory_graph g ON g.source_hash = w.hash OR g.target_hash = w.hash
    WHERE w.hops < ?
)
SELECT w.hash, min(w.hops) FROM walk w JOIN memories m ON m.content_hash = w.hash
GROUP BY w.hash ORDER BY min(w.hops), w.hash
"""


def connected(conn: Any, content_hash: str, max_hops: int) -> list[tuple[str, int]]:
    """Memories reachable from `content_hash` within `max_hops` edges, nearest first (itself excluded)."""
    return [(h, hops) for h, hops in conn.execute(_WALK, (content_hash, max_hops)) if h != content_hash]


def shortest_path(conn: Any, source: str, target: str, max_hops: int) -> list[str] | None:
    """The memories on a shortest path from source to target (both included), or None beyond max_hops."""
    if source == target:
        return [source]
    distance = dict(conn.execute(_WALK, (source, max_hops)))
    if target not in distance:
        return None
    path = [target]
    while path[-1] != source:  # walk back: some neighbour is always one hop closer to the source
        here = path[-1]
        closer = [n for n in _neighbours(conn, here) if distance.get(n) == distance[here] - 1]
        path.append(min(closer))
    return path[::-1]


def _neighbours(conn: Any, content_hash: str) -> list[str]:
    rows = conn.execute(
        "SELECT target_hash FROM memory_graph WHERE source_hash = ? "
        "UNION SELECT source_hash FROM memory_graph WHERE target_hash = ?", (content_hash, content_hash))
    return [row[0] for row in rows]


def clusters(conn: Any, min_size: int) -> list[list[str]]:
    """Groups of memories connected by edges (connected components), largest first, each sorted."""
    parent: dict[str, str] = {}

    def root(h: str) -> str:
        while parent.setdefault(h, h) != h:
            parent[h] = parent[parent[h]]  # path halving keeps the trees flat
            h = parent[h]
        return h

    present = {row[0] for row in conn.execute("SELECT content_hash FROM memories")}
    for source, target in conn.execute("SELECT source_hash, target_hash FROM memory_graph"):
        if source in present and target in present:
            parent[root(source)] = root(target)
    groups: dict[str, list[str]] = {}
    for h in parent:
        groups.setdefault(root(h), []).append(h)
    found = [sorted(g) for g in groups.values() if len(g) >= min_size]
    return sorted(found, key=lambda g: (-len(g), g[0]))


# -- discovering associations ------------------------------------------------------------------------

def find_pairs(hashes: list[str], vectors: np.ndarray, low: float, high: float, limit: int,
               exclude: set[tuple[str, str]], block: int = 1024) -> list[tuple[str, str, float]]:
    """Pairs (a < b) whose cosine lies in [low, high], most similar first, at most `limit`, skipping
    `exclude`. Vectors are unit rows; the product is taken a block of rows at a time to bound memory."""
    found: list[tuple[float, str, str]] = []
    for start in range(0, len(hashes), block):
        scores = vectors[start:start + block] @ vectors.T
        rows, cols = np.nonzero((scores >= low) & (scores <= high))
        for r, c in zip(rows.tolist(), cols.tolist()):
            i = start + r
            if c <= i:
                continue  # each pair once, never a memory with itself
            a, b = sorted((hashes[i], hashes[c]))
            if (a, b) not in exclude:
                found.append((float(scores[r, c]), a, b))
    found.sort(key=lambda item: (-item[0], item[1], item[2]))
    return [(a, b, round(score, 4)) for score, a, b in found[:limit]]


def association_fields(source: Memory, target: Memory, similarity: float,
                       connection_types: tuple[str, ...] = ("semantic",)) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """Content, tags and metadata of the memory that records an association. Deterministic, so the same
    pair always gets the same content hash (found twice, stored once)."""
    low, high = sorted((source, target), key=lambda m: m.content_hash)
    content = (f"Association (similarity {similarity:.2f}): \"{_excerpt(low.content)}\" relates to "
               f"\"{_excerpt(high.content)}\"")
    metadata = {"similarity": similarity, "connection_types": list(connection_types),
                "source_hash": low.content_hash, "target_hash": high.content_hash}
    return content, (ASSOCIATION_TAG, "discovered"), metadata


def cluster_summary_fields(members: list[Memory]) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """A memory describing a group of connected memories; deterministic for the same members."""
    ordered = sorted(members, key=lambda m: m.content_hash)
    shown = "; ".join(f"\"{_excerpt(m.content, 60)}\"" for m in ordered[:10])
    more = f" and {len(ordered) - 10} more" if len(ordered) > 10 else ""
    content = f"Cluster of {len(ordered)} related memories: {shown}{more}"
    return content, (CLUSTER_TAG, "summary"), {"member_hashes": [m.content_hash for m in ordered],
                                               "size": len(ordered)}


def _excerpt(text: str, width: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 1].rstrip() + "…"


def memory_vectors(conn: Any) -> tuple[list[str], np.ndarray]:
    """Hashes and unit vectors of the memories associations may join: not associations or summaries."""
    rows = conn.execute(
        "SELECT m.content_hash, v.embedding FROM memories m JOIN memory_vectors v ON v.memory_id = m.id "
        "WHERE m.id NOT IN (SELECT memory_id FROM memory_tags WHERE tag IN (?, ?)) ORDER BY m.id",
        (ASSOCIATION_TAG, CLUSTER_TAG)).fetchall()
    if not rows:
        return [], np.zeros((0, 0), dtype=np.float32)
    return [r[0] for r in rows], np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])


def edge_pairs(conn: Any) -> set[tuple[str, str]]:
    return {(a, b) for a, b in conn.execute("SELECT source_hash, target_hash FROM memory_graph")}
