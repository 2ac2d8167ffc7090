"""Keeping a process's in-memory `VectorIndex` equal to the `memory_vectors` table, and the SQL search
used until it is loaded.

`vector_log` records every change to the set of vectors in commit order (written in the same transaction
as the vectors), so an index that knows the last sequence number it saw catches up with the writes of
every other process by reading the log from there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from server.errors import StorageError
from server.storage.base import MemoryFilter
from server.storage.rows import filter_sql, rows_in
from server.storage.local.vector_index import VectorIndex

_READ_BATCH = 4096  # vectors read and copied at a time (6 MB of blobs at 384 dimensions)


def load(conn: Any, dimension: int) -> VectorIndex:
    last_seq = conn.execute("SELECT coalesce(max(seq), 0) FROM vector_log").fetchone()[0]
    ids, vectors, used = all_vectors(conn, dimension)
    index = VectorIndex(dimension)
    index.reset(ids, vectors, last_seq, size=used)
    return index


def catch_up(conn: Any, index: VectorIndex) -> None:
    """Apply the log entries `index` has not seen (inside the caller's read transaction)."""
    bounds = conn.execute("SELECT min(seq), max(seq) FROM vector_log").fetchone()
    if bounds[1] == index.last_seq or (bounds[1] is None and index.last_seq == 0):
        return
    # Start over when the log was trimmed past us, or went backwards (an older copy of the file was put back
    # in place): the index must never serve vectors the file no longer has.
    if bounds[1] is None or bounds[1] < index.last_seq or bounds[0] > index.last_seq + 1:
        ids, vectors, used = all_vectors(conn, index.dimension)
        index.reset(ids, vectors, bounds[1] or 0, size=used)
        return
    entries = conn.execute(
        "SELECT memory_id, op FROM vector_log WHERE seq > ? AND seq <= ? ORDER BY seq", (index.last_seq, bounds[1])
    ).fetchall()
    index.remove(i for i, op in entries if op == "del")
    added = [i for i, op in entries if op == "add"]
    found = vectors_by_id(conn, added)  # ids deleted since are simply not found
    index.add(list(found), np.array(list(found.values()), dtype=np.float32).reshape(-1, index.dimension))
    index.last_seq = bounds[1]


def sql_search(conn: Any, vector: np.ndarray, k: int, where: MemoryFilter) -> list[tuple[int, float]]:
    """Exact search in SQL with sqlite-vec, used until the in-memory index is loaded."""
    clause, params = filter_sql(where)
    rows = conn.execute(
        "SELECT v.memory_id, 1.0 - vec_distance_cosine(v.embedding, ?) AS score FROM memory_vectors v "
        f"JOIN memories m ON m.id = v.memory_id WHERE {clause} ORDER BY score DESC LIMIT ?",
        [vector.tobytes(), *params, k],
    ).fetchall()
    return [(r[0], float(r[1])) for r in rows]


def vectors_by_id(conn: Any, ids: list[int]) -> dict[int, np.ndarray]:
    rows = rows_in(conn, "SELECT memory_id, embedding FROM memory_vectors WHERE memory_id", ids)
    return {r[0]: np.frombuffer(r[1], dtype=np.float32) for r in rows}


def all_vectors(conn: Any, dimension: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Every vector, into arrays with spare rows for new memories; returns (ids, vectors, rows used).

    Read in batches into preallocated arrays: joining every blob first, or growing the arrays on the first
    store, would briefly need twice the memory of the whole index; copying row by row costs ~3 us a row in
    Python (0.3 s at 100k memories, while the first requests are being served).
    """
    total = conn.execute("SELECT count(*) FROM memory_vectors").fetchone()[0]
    capacity = total + max(1024, total // 16)
    ids = np.zeros(capacity, dtype=np.int64)
    vectors = np.zeros((capacity, dimension), dtype=np.float32)
    cursor = conn.execute("SELECT memory_id, embedding FROM memory_vectors ORDER BY memory_id LIMIT ?", (total,))
    used = 0
    while batch := cursor.fetchmany(_READ_BATCH):
        wrong = next((memory_id for memory_id, blob in batch if len(blob) != 4 * dimension), None)
        if wrong is not None:  # joined, two wrong sizes could cancel out and shift every vector after them
            raise StorageError(f"The vector of memory {wrong} has the wrong size for {dimension} dimensions: "
                               "the database is damaged; restore a backup.")
        stop = used + len(batch)
        ids[used:stop] = [memory_id for memory_id, _ in batch]
        vectors[used:stop] = np.frombuffer(b"".join(blob for _, blob in batch), dtype=np.float32).reshape(-1, dimension)
        used = stop
    return ids, vectors, used
