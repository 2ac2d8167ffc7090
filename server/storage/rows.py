"""SQL that the local SQLite store and D1 share (the same memories schema): memories read from rows by column
name, the filter as a WHERE clause, the statements that write a memory's columns, and chunked IN lists."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from server.record import CHANGEABLE, NAMES, SELECT_LIST, Memory, UnreadableRecord, from_row, to_row
from server.storage.base import MemoryFilter

logger = logging.getLogger(__name__)

CHUNK = 500  # keys per IN (...) clause, well under SQLite's variable limit
K = TypeVar("K")

COLUMNS = SELECT_LIST  # the columns a memory is read from, in a SELECT list
# The local store binds by name (sqlite3's :name); D1 binds by position, so its values are listed in NAMES order.
INSERT_NAMED = f"INSERT INTO memories ({SELECT_LIST}) VALUES ({', '.join(':' + n for n in NAMES)})"
UPDATE_NAMED = (f"UPDATE memories SET {', '.join(f'{n} = :{n}' for n in CHANGEABLE)} "
                "WHERE content_hash = :content_hash")


def values_in_order(memory: Memory, names: Sequence[str] = NAMES) -> list[Any]:
    """The memory's column values for these columns, in their order (for positional binding)."""
    row = to_row(memory)
    return [row[n] for n in names]


def named(cursor: Any) -> Iterator[dict[str, Any]]:
    """A cursor's rows as {column name: value}."""
    names = [d[0] for d in cursor.description or ()]
    for row in cursor:
        yield dict(zip(names, row))


_reported: set[str] = set()  # hashes already logged by this process: a listing every second must not flood it


def readable(rows: Iterable[Mapping[str, Any]], decode: Any = None) -> Iterator[Any]:
    """Decode each row (by column name), skipping (and logging once) those that cannot be read: one bad record
    must never break a listing or a search. `decode` maps a row to its value (default: the memory)."""
    for row in rows:
        try:
            yield (decode or from_row)(row)
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
    if where.exclude_types:
        clauses.append(f"(m.memory_type IS NULL OR m.memory_type NOT IN ({','.join('?' * len(where.exclude_types))}))")
        params += list(where.exclude_types)
    return " AND ".join(clauses), params


def rows_in(conn: Any, select: str, keys: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """Run `<select> IN (...)` over `keys` in chunks; `select` ends with the column, e.g. "... WHERE id"."""
    for chunk in chunks(keys):
        yield from conn.execute(f"{select} IN ({','.join('?' * len(chunk))})", chunk)


def named_in(conn: Any, select: str, keys: Sequence[Any]) -> Iterator[dict[str, Any]]:
    """`rows_in`, each row as {column name: value}."""
    for chunk in chunks(keys):
        yield from named(conn.execute(f"{select} IN ({','.join('?' * len(chunk))})", chunk))


def chunks(items: Sequence[K]) -> Iterator[list[K]]:
    for start in range(0, len(items), CHUNK):
        yield list(items[start : start + CHUNK])
