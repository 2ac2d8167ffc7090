"""The local graph table of associations between memories (owned by the local store).

Associations are memories themselves (tagged `association`, with `source_hash` / `target_hash` /
`similarity` in their metadata), so they sync like any memory. The `memory_graph` table is derived from
them, local only, and can always be rebuilt. Edges are undirected and stored once, with
source_hash < target_hash.

The table holds one edge for each pair described by an association memory, unless an end was deleted
here (it has a tombstone); when several association memories describe one pair, the one with the
smallest content hash gives the edge. The incremental path (stores in any order, pulls, deletes) and
`rebuild` agree on it, except that an association arriving after one of its ends was deleted keeps a dead
edge until the next rebuild. Queries only step onto memories present in this database, so such an edge,
or one whose other end has not arrived yet (a pull in progress), is kept but never followed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from server.record import Memory
from server.record import NAMES
from server.storage.rows import named, readable, rows_in

ASSOCIATION_TAG = "association"  # association memories carry it (see server/graph.py)
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


# When two association memories describe the same pair, the smaller content hash keeps the edge, so the
# table does not depend on the order memories arrived in (each device may receive them differently).
_UPSERT = (
    "INSERT INTO memory_graph (source_hash, target_hash, similarity, association_hash) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (source_hash, target_hash) DO UPDATE SET similarity = excluded.similarity, "
    "association_hash = excluded.association_hash "
    "WHERE excluded.association_hash <= memory_graph.association_hash"
)


def write_edges(conn: Any, memories: Iterable[Memory]) -> int:
    """Record the edges of the association memories among `memories`; call inside a write transaction."""
    edges = [e for e in map(edge_of, memories) if e is not None]
    conn.executemany(_UPSERT, [(e.source_hash, e.target_hash, e.similarity, e.association_hash) for e in edges])
    return len(edges)


def remove_edges_touching(conn: Any, hashes: Iterable[str]) -> None:
    """Drop edges described by, or ending at, any of these (deleted) memories; inside a write transaction.
    A pair whose edge came from a deleted association memory gets it back from another association
    memory describing the same pair, if one remains."""
    gone = list(dict.fromkeys(hashes))
    orphaned = {(a, b) for a, b in rows_in(
        conn, "SELECT source_hash, target_hash FROM memory_graph WHERE association_hash", gone)}
    conn.executemany(
        "DELETE FROM memory_graph WHERE association_hash = ? OR source_hash = ? OR target_hash = ?",
        [(h, h, h) for h in gone])
    deleted = set(gone)
    orphaned = {pair for pair in orphaned if not deleted.intersection(pair)}
    if orphaned:
        write_edges(conn, [m for m in _association_memories(conn)
                           if (e := edge_of(m)) is not None and (e.source_hash, e.target_hash) in orphaned])


# -- rebuilding the table from the association memories --------------------------------------------

def rebuild(conn: Any) -> int:
    """Clear `memory_graph` and refill it from every association memory, skipping edges with an end that
    was deleted here; inside a write transaction. Returns the number of edges."""
    conn.execute("DELETE FROM memory_graph")
    deleted = {row[0] for row in conn.execute(
        "SELECT t.content_hash FROM tombstones t WHERE NOT EXISTS "
        "(SELECT 1 FROM memories m WHERE m.content_hash = t.content_hash)")}
    best: dict[tuple[str, str], Edge] = {}
    for memory in _association_memories(conn):
        edge = edge_of(memory)
        if edge is None or edge.source_hash in deleted or edge.target_hash in deleted:
            continue
        key = (edge.source_hash, edge.target_hash)
        if key not in best or edge.association_hash < best[key].association_hash:
            best[key] = edge
    conn.executemany(_UPSERT, [(e.source_hash, e.target_hash, e.similarity, e.association_hash)
                               for e in best.values()])
    return len(best)


def _association_memories(conn: Any) -> list[Memory]:
    rows = named(conn.execute(
        f"SELECT {', '.join('m.' + n for n in NAMES)} FROM memories m "
        "JOIN memory_tags t ON t.memory_id = m.id WHERE t.tag = ?", (ASSOCIATION_TAG,)))
    return list(readable(rows))


# -- queries -----------------------------------------------------------------------------------------

# Breadth-first over undirected edges, stepping only onto memories present here: each memory with the
# hops it takes to reach it. UNION (not UNION ALL) keeps one row per (memory, hops), so cycles cannot
# make it loop and the work is bounded by memories x hops (a walk that carried whole paths to exclude
# cycles would enumerate every simple path: exponential in a densely associated group).
_WALK = """
WITH RECURSIVE walk(hash, hops) AS (
    SELECT content_hash, 0 FROM memories WHERE content_hash = ?
    UNION
    SELECT n.content_hash, w.hops + 1
    FROM walk w
    JOIN memory_graph g ON g.source_hash = w.hash OR g.target_hash = w.hash
    JOIN memories n ON n.content_hash = CASE WHEN g.source_hash = w.hash THEN g.target_hash ELSE g.source_hash END
    WHERE w.hops < ?
)
SELECT hash, min(hops) FROM walk GROUP BY hash ORDER BY min(hops), hash
"""


def connected(conn: Any, content_hash: str, max_hops: int) -> list[tuple[str, int]]:
    """Memories reachable from `content_hash` within `max_hops` edges, nearest first (itself excluded)."""
    return [(h, hops) for h, hops in conn.execute(_WALK, (content_hash, max_hops)) if h != content_hash]


def shortest_path(conn: Any, source: str, target: str, max_hops: int) -> list[str] | None:
    """The memories on a shortest path from source to target (both included), or None when there is none
    within max_hops (or either memory is not here)."""
    distance = dict(conn.execute(_WALK, (source, max_hops)))
    if target not in distance:
        return None
    path = [target]
    while path[-1] != source:  # walk back: some neighbour of each memory is one hop closer to the source
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


def memory_vectors(conn: Any) -> tuple[list[str], np.ndarray]:
    """Hashes and unit vectors (float32 rows) of the memories associations may join: neither
    associations nor cluster summaries."""
    rows = conn.execute(
        "SELECT m.content_hash, v.embedding FROM memories m JOIN memory_vectors v ON v.memory_id = m.id "
        "WHERE m.id NOT IN (SELECT memory_id FROM memory_tags WHERE tag IN (?, ?)) ORDER BY m.id",
        (ASSOCIATION_TAG, CLUSTER_TAG)).fetchall()
    if not rows:
        return [], np.zeros((0, 0), dtype=np.float32)
    vectors = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return [r[0] for r in rows], vectors / np.where(norms > 0, norms, 1.0)


def edge_pairs(conn: Any) -> set[tuple[str, str]]:
    return {(a, b) for a, b in conn.execute("SELECT source_hash, target_hash FROM memory_graph")}


class GraphTable:
    """The graph queries of the local store, run in its own transactions (no connection leaves the store)."""

    def __init__(self, read: Any, write: Any) -> None:
        self._read, self._write = read, write

    def candidates(self) -> tuple[list[str], np.ndarray, set[tuple[str, str]]]:
        """Every memory's hash and vector, and the pairs already in the graph."""
        with self._read() as conn:
            hashes, vectors = memory_vectors(conn)
            return hashes, vectors, edge_pairs(conn)

    def connected(self, content_hash: str, max_hops: int) -> list[tuple[str, int]]:
        with self._read() as conn:
            return connected(conn, content_hash, max_hops)

    def shortest_path(self, source: str, target: str, max_hops: int) -> list[str] | None:
        with self._read() as conn:
            return shortest_path(conn, source, target, max_hops)

    def clusters(self, min_size: int) -> list[list[str]]:
        with self._read() as conn:
            return clusters(conn, min_size)

    def rebuild(self) -> int:
        with self._write() as conn:
            return rebuild(conn)

    def edges_among(self, hashes: list[str]) -> list[tuple[str, str, float]]:
        """The edges joining two of these memories (a neighbourhood's links), strongest first."""
        wanted = set(hashes)
        found: dict[tuple[str, str], float] = {}
        with self._read() as conn:
            for start in range(0, len(hashes), 500):
                chunk = hashes[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for a, b, s in conn.execute(f"SELECT source_hash, target_hash, similarity FROM memory_graph WHERE "
                                            f"source_hash IN ({marks})", chunk):
                    if b in wanted:
                        found[(a, b)] = s
        return sorted(((a, b, s) for (a, b), s in found.items()), key=lambda e: (-e[2], e[0], e[1]))

    def strongest(self, limit: int) -> tuple[list[tuple[str, str, float]], dict[str, tuple[str, str]]]:
        """The `limit` strongest edges, and the start and the tags (JSON) of each memory they join (a picture)."""
        with self._read() as conn:
            edges = [tuple(r) for r in conn.execute(
                "SELECT source_hash, target_hash, similarity FROM memory_graph ORDER BY similarity DESC LIMIT ?",
                (limit,))]
            hashes = sorted({h for edge in edges for h in edge[:2]})
            names: dict[str, tuple[str, str]] = {}
            for start in range(0, len(hashes), 500):
                chunk = hashes[start:start + 500]
                names.update((h, (text, tags)) for h, text, tags in conn.execute(
                    f"SELECT content_hash, substr(content, 1, 80), tags FROM memories WHERE "
                    f"content_hash IN ({','.join('?' * len(chunk))})", chunk))
            return edges, names
