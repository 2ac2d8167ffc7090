"""Associations between memories, as values: finding candidate pairs in a set of vectors, and the content,
tags and metadata of association and cluster-summary memories. No SQL here: the table derived from these
memories belongs to the local store (server/storage/local/graph_table.py)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from server.record import Memory
from server.storage.local.graph_table import ASSOCIATION_TAG, CLUSTER_TAG

ASSOCIATION_TAGS = (ASSOCIATION_TAG, "discovered")
CLUSTER_TAGS = (CLUSTER_TAG, "summary")
_SCORES_PER_BLOCK = 4_000_000  # similarity scores held at once by find_pairs (16 MB of float32)


# -- discovering associations ------------------------------------------------------------------------

def find_pairs(hashes: list[str], vectors: np.ndarray, low: float, high: float, limit: int,
               exclude: set[tuple[str, str]], block: int | None = None) -> list[tuple[str, str, float]]:
    """Pairs (a, b) with a < b whose cosine lies in [low, high], most similar first (then by hashes), at
    most `limit`, skipping the pairs in `exclude` (given as (a, b) with a < b). Vectors are unit rows.

    Memory stays bounded whatever the number of memories or the width of the band: the products are taken
    `block` rows at a time (by default as many as make ~4M scores), upper triangle only, and only the best
    `limit` candidates of each block are kept."""
    n = len(hashes)
    if n < 2 or limit < 1:
        return []
    rows_per_block = block or max(1, min(n, _SCORES_PER_BLOCK // n))
    position = {h: i for i, h in enumerate(hashes)}
    skip: dict[int, list[int]] = {}
    for a, b in exclude:
        i, j = position.get(a), position.get(b)
        if i is not None and j is not None and i != j:
            skip.setdefault(min(i, j), []).append(max(i, j))
    found: list[tuple[float, str, str]] = []
    for start in range(0, n - 1, rows_per_block):
        stop = min(start + rows_per_block, n)
        scores = vectors[start:stop] @ vectors[start:].T  # row r is memory start + r, column c memory start + c
        width = scores.shape[1]
        np.copyto(scores, -np.inf, where=np.arange(width) <= np.arange(stop - start)[:, None])  # each pair once
        np.copyto(scores, -np.inf, where=~((scores >= low) & (scores <= high)))  # a NaN (broken vector) too
        for i in range(start, stop):
            for j in skip.get(i, ()):
                scores[i - start, j - start] = -np.inf
        flat = scores.ravel()
        inside = flat > -np.inf
        count = int(np.count_nonzero(inside))
        if count > limit:  # the block's `limit` best (and any tied with the last of them)
            kth = np.partition(flat[inside], count - limit)[count - limit]
            keep = np.flatnonzero(flat >= kth)
        else:
            keep = np.flatnonzero(inside)
        for k in keep.tolist():
            a, b = sorted((hashes[start + k // width], hashes[start + k % width]))
            found.append((float(flat[k]), a, b))
        if len(found) > limit:
            found.sort(key=lambda item: (-item[0], item[1], item[2]))
            del found[limit:]
    found.sort(key=lambda item: (-item[0], item[1], item[2]))
    return [(a, b, round(score, 4)) for score, a, b in found]


def association_memory_fields(source: str, target: str, similarity: float,
                              connection_types: Iterable[str] = ("semantic",)
                              ) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """Content, tags and metadata of the memory that records an association between two memories (given
    by content hash). The content names only the pair, so the same pair always gives the same content
    hash, whichever device finds it and whatever similarity its float arithmetic gives: found twice,
    stored once."""
    low, high = sorted((source, target))
    types = list(dict.fromkeys(connection_types)) or ["semantic"]
    content = f"Association between memory {low[:12]} and memory {high[:12]}"
    metadata = {"similarity": round(float(similarity), 4), "connection_types": types,
                "source_hash": low, "target_hash": high}
    return content, ASSOCIATION_TAGS, metadata


def cluster_summary_fields(members: list[Memory]) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """A memory describing a group of connected memories; deterministic for the same members."""
    ordered = sorted(members, key=lambda m: m.content_hash)
    shown = "; ".join(f"\"{_excerpt(m.content, 60)}\"" for m in ordered[:10])
    more = f" and {len(ordered) - 10} more" if len(ordered) > 10 else ""
    content = f"Cluster of {len(ordered)} related memories: {shown}{more}"
    return content, CLUSTER_TAGS, {"member_hashes": [m.content_hash for m in ordered], "size": len(ordered)}


def _excerpt(text: str, width: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 1].rstrip() + "…"
