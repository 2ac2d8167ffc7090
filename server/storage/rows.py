"""The memory row shape shared by the local SQLite backend and Cloudflare D1 (the same schema and SQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from server.storage.base import Memory, MemoryFilter, MetadataChange, iso_utc

CHUNK = 500  # keys per IN (...) clause, well under SQLite's variable limit
K = TypeVar("K")

COLUMNS = "content, content_hash, tags, memory_type, metadata, created_at, created_at_iso, updated_at, updated_at_iso"
COLUMN_NAMES = tuple(c.strip() for c in COLUMNS.split(","))


def memory_params(memory: Memory) -> tuple[Any, ...]:
    return (memory.content, memory.content_hash, json.dumps(list(memory.tags)), memory.memory_type,
            json.dumps(dict(memory.metadata)), memory.created_at, memory.created_at_iso, memory.updated_at,
            memory.updated_at_iso)


def row_to_memory(row: Sequence[Any]) -> Memory:
    return Memory(content=row[0], content_hash=row[1], tags=tuple(json.loads(row[2])), memory_type=row[3],
                  metadata=json.loads(row[4]), created_at=row[5], created_at_iso=row[6], updated_at=row[7],
                  updated_at_iso=row[8])


def filter_sql(where: MemoryFilter) -> tuple[str, list[Any]]:
    """A WHERE clause over `memories m` that applies the filter inside the query (no short pages)."""
    clauses, params = ["1"], []
    if where.tags:
        marks = ",".join("?" * len(where.tags))
        if where.match_all:
            clauses.append(f"m.id IN (SELECT memory_id FROM memory_tags WHERE tag IN ({marks}) "
                           "GROUP BY memory_id HAVING count(*) = ?)")
            params += [*where.tags, len(set(where.tags))]
        else:
            clauses.append(f"m.id IN (SELECT memory_id FROM memory_tags WHERE tag IN ({marks}))")
            params += list(where.tags)
    if where.memory_type is not None:
        clauses.append("m.memory_type = ?")
        params.append(where.memory_type)
    if where.start is not None:
        clauses.append("m.created_at >= ?")
        params.append(where.start)
    if where.end is not None:
        clauses.append("m.created_at < ?")
        params.append(where.end)
    if where.contains:
        clauses.append("instr(lower(m.content), ?) > 0")
        params.append(where.contains.lower())
    return " AND ".join(clauses), params


UPDATE_SQL = ("UPDATE memories SET tags = ?, memory_type = ?, metadata = ?, updated_at = ?, updated_at_iso = ? "
              "WHERE id = ?")


def update_params(current: Memory, change: MetadataChange, now: float, memory_id: int) -> list[Any]:
    """The parameters of UPDATE_SQL: tags and type replaced when given, metadata merged key by key
    (a key set to None is removed), updated_at moved to `now`."""
    metadata = dict(current.metadata)
    for key, value in (change.metadata or {}).items():
        if value is None:
            metadata.pop(key, None)
        else:
            metadata[key] = value
    tags = current.tags if change.tags is None else change.tags
    # None leaves the type as it is; "" clears it.
    memory_type = current.memory_type if change.memory_type is None else (change.memory_type or None)
    return [json.dumps(list(tags)), memory_type, json.dumps(metadata), now, iso_utc(now), memory_id]


def rows_in(conn: Any, select: str, keys: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """Run `<select> IN (...)` over `keys` in chunks; `select` ends with the column, e.g. "... WHERE id"."""
    for chunk in chunks(keys):
        yield from conn.execute(f"{select} IN ({','.join('?' * len(chunk))})", chunk)


def chunks(items: Sequence[K]) -> Iterator[list[K]]:
    for start in range(0, len(items), CHUNK):
        yield list(items[start : start + CHUNK])
