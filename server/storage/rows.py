"""The memory row shape shared by the local SQLite backend and Cloudflare D1 (the same schema and SQL)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from server.errors import StorageError
from server.storage.base import Memory, MemoryFilter, MetadataChange, iso_utc

logger = logging.getLogger(__name__)

CHUNK = 500  # keys per IN (...) clause, well under SQLite's variable limit
K = TypeVar("K")

COLUMNS = "content, content_hash, tags, memory_type, metadata, created_at, created_at_iso, updated_at, updated_at_iso"
COLUMN_NAMES = tuple(c.strip() for c in COLUMNS.split(","))


def memory_params(memory: Memory) -> tuple[Any, ...]:
    return (memory.content, memory.content_hash, json.dumps(list(memory.tags)), memory.memory_type,
            json.dumps(dict(memory.metadata)), memory.created_at, memory.created_at_iso, memory.updated_at,
            memory.updated_at_iso)


class UnreadableRecord(StorageError):
    """A stored row that breaks the record's read bounds (server/record.py): skipped by listings and searches,
    reported by health; it can still be deleted by its hash."""

    def __init__(self, content_hash: Any, reason: str) -> None:
        self.content_hash, self.reason = str(content_hash), reason
        super().__init__(f"The memory {self.content_hash[:64]} cannot be read: {reason}. Delete it (delete_memory) "
                         "or restore a backup; check_database_health lists every such memory.")


def row_to_memory(row: Sequence[Any]) -> Memory:
    """The memory in a row of COLUMNS; raises UnreadableRecord when the row breaks the read bounds."""
    from server.record import unreadable

    try:
        tags, metadata = json.loads(row[2]), json.loads(row[4])
    except (TypeError, ValueError, RecursionError) as exc:
        raise UnreadableRecord(row[1], f"its tags or metadata are not JSON ({str(exc)[:80] or 'nested too deep'})") \
            from None
    memory = Memory(content=row[0], content_hash=row[1], tags=tuple(tags) if isinstance(tags, list) else tags,
                    memory_type=row[3], metadata=metadata, created_at=row[5], created_at_iso=row[6],
                    updated_at=row[7], updated_at_iso=row[8])
    problem = unreadable(memory)
    if problem is not None:
        raise UnreadableRecord(row[1], problem)
    return memory


_reported: set[str] = set()  # hashes already logged by this process: a listing every second must not flood it


def readable(rows: Iterable[Sequence[Any]], decode: Any = None) -> Iterator[Any]:
    """Decode each row, skipping (and logging once) those that cannot be read: one bad record must never break
    a listing or a search. `decode` maps a row to its value (default: row_to_memory)."""
    for row in rows:
        try:
            yield (decode or row_to_memory)(row)
        except UnreadableRecord as exc:
            if exc.content_hash not in _reported and len(_reported) < 10_000:
                _reported.add(exc.content_hash)
                logger.warning("Skipped a stored memory that cannot be read: %s", exc)


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
