"""The memory record: its fields, its columns (declared once, read and written by name on every backend), and
what a metadata change does to it.

Every backend stores a memory as one row of the same columns (the local SQLite file and D1 alike): `to_row`
and `from_row` are the only places that know how a field is kept in its column, and `changed` the only place
that knows how an update merges. The migrations keep their DDL as shipped; tests/test_records.py checks that
the table they make has exactly these columns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from server.errors import StorageError

# A memory with this tag is a health probe (the installer's smoke test, `doctor`): it is never queued for
# the cloud or written to the cloud's change log, and deleting it leaves no tombstone, so a check leaves
# nothing behind on any backend.
PROBE_TAG = "mcp-memory:probe"
# Memories the server writes about the user's memories (discover_associations, summarize_clusters): the graph
# is where they live; lists, counts and charts meant for people leave them out unless asked.
ASSOCIATION_TYPE, SUMMARY_TYPE = "association", "cluster_summary"
SYSTEM_TYPES = (ASSOCIATION_TYPE, SUMMARY_TYPE)


@dataclass(frozen=True)
class Memory:
    content: str
    content_hash: str
    tags: tuple[str, ...] = ()
    memory_type: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    created_at_iso: str = ""
    updated_at: float = 0.0
    updated_at_iso: str = ""

    @property
    def is_probe(self) -> bool:
        return PROBE_TAG in self.tags


@dataclass(frozen=True)
class MetadataChange:
    """An update to a memory's metadata. `None` leaves a field as it is.

    `metadata` is merged key by key into the stored metadata; a key whose value is None is removed.
    """

    tags: tuple[str, ...] | None = None
    memory_type: str | None = None  # "" clears the type
    metadata: Mapping[str, Any] | None = None


def _same(value: Any) -> Any:
    return value


def _json_list(value: Any) -> str:
    return json.dumps(list(value))


def _json_object(value: Any) -> str:
    return json.dumps(dict(value))


@dataclass(frozen=True)
class Column:
    name: str  # the Memory field it keeps, and the column's name
    encode: Callable[[Any], Any] = _same  # field -> column value
    decode: Callable[[Any], Any] = _same  # column value -> field


COLUMNS: tuple[Column, ...] = (
    Column("content"),
    Column("content_hash"),
    Column("tags", _json_list, json.loads),  # a JSON array, for reading; memory_tags is for filtering
    Column("memory_type"),
    Column("metadata", _json_object, json.loads),  # a JSON object
    Column("created_at"),
    Column("created_at_iso"),
    Column("updated_at"),
    Column("updated_at_iso"),
)
NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
SELECT_LIST = ", ".join(NAMES)  # "content, content_hash, ...": the columns a query reads a memory from
# What a metadata change writes: the rest of the row never changes once stored.
CHANGEABLE: tuple[str, ...] = ("tags", "memory_type", "metadata", "updated_at", "updated_at_iso")


class UnreadableRecord(StorageError):
    """A stored row that breaks the record's read bounds (server/record/checks.py): skipped by listings and
    searches, reported by health; it can still be deleted by its hash."""

    def __init__(self, content_hash: Any, reason: str) -> None:
        self.content_hash, self.reason = str(content_hash), reason
        super().__init__(f"The memory {self.content_hash[:64]} cannot be read: {reason}. Delete it (delete_memory) "
                         "or restore a backup; check_database_health lists every such memory.")


def to_row(memory: Memory) -> dict[str, Any]:
    """The memory's column values, by column name."""
    return {c.name: c.encode(getattr(memory, c.name)) for c in COLUMNS}


def decode_row(values: Mapping[str, Any]) -> Memory:
    """The memory in a row's values (by column name), as stored; raises UnreadableRecord when its JSON columns
    cannot be read. `server.record.from_row` also applies the read bounds."""
    try:
        fields = {c.name: c.decode(values[c.name]) for c in COLUMNS}
    except (TypeError, ValueError, RecursionError) as exc:
        raise UnreadableRecord(values.get("content_hash"), "its tags or metadata are not JSON "
                               f"({str(exc)[:80] or 'nested too deep'})") from None
    if isinstance(fields["tags"], list):
        fields["tags"] = tuple(fields["tags"])
    return Memory(**fields)


def changed(memory: Memory, change: MetadataChange, now: float) -> Memory:
    """The memory after a metadata change: tags and type replaced when given ("" clears the type), metadata
    merged key by key (a key set to None is removed), updated_at moved to `now`."""
    metadata = dict(memory.metadata)
    for key, value in (change.metadata or {}).items():
        if value is None:
            metadata.pop(key, None)
        else:
            metadata[key] = value
    return replace(
        memory,
        tags=memory.tags if change.tags is None else tuple(change.tags),
        memory_type=memory.memory_type if change.memory_type is None else (change.memory_type or None),
        metadata=metadata,
        updated_at=now,
        updated_at_iso=iso_utc(now),
    )


def iso_utc(timestamp: float) -> str:
    """ISO 8601 in UTC with a `Z`, e.g. 2026-11-23T22:41:05.123456Z."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat().replace("+00:00", "Z")
