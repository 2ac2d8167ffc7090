"""The D1 database's schema: its named migrations, run by the shared runner (server/storage/migrate.py) and
recorded in D1. Each statement is idempotent (IF NOT EXISTS): D1's REST API has no open transaction to hold
the record and the change together, so a crash part-way is made safe to re-run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from server.storage.migrate import Migration
from server.storage.search_schema import fts5_statements

MIGRATIONS: tuple[Migration, ...] = (
    Migration("0001_memories", (
        "CREATE TABLE IF NOT EXISTS memories (id INTEGER PRIMARY KEY AUTOINCREMENT, content_hash TEXT NOT NULL "
        "UNIQUE, content TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '[]', memory_type TEXT, metadata TEXT NOT NULL "
        "DEFAULT '{}', created_at REAL NOT NULL, created_at_iso TEXT NOT NULL, updated_at REAL NOT NULL, "
        "updated_at_iso TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS memories_by_created ON memories(created_at)",
        "CREATE TABLE IF NOT EXISTS memory_tags (tag TEXT NOT NULL, memory_id INTEGER NOT NULL, "
        "PRIMARY KEY (tag, memory_id))",
        "CREATE INDEX IF NOT EXISTS memory_tags_by_memory ON memory_tags(memory_id)",
    )),
    # Sync support, used by every device (cloudflare and hybrid alike): tombstones so a delete is never undone
    # by a device that still holds a copy, a change log that devices read from their own cursor (commit order,
    # no clocks involved), and the settings every device must share.
    Migration("0002_sync", (
        "CREATE TABLE IF NOT EXISTS tombstones (content_hash TEXT PRIMARY KEY, deleted_at REAL NOT NULL)",
        "CREATE TABLE IF NOT EXISTS change_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, content_hash TEXT NOT NULL, "
        "changed_at REAL NOT NULL)",
        "CREATE TABLE IF NOT EXISTS shared_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    )),
    # A drift check compares only what changed since the last one: these keep it to the rows that did.
    Migration("0003_sync_indexes", (
        "CREATE INDEX IF NOT EXISTS memories_by_updated ON memories(updated_at)",
        "CREATE INDEX IF NOT EXISTS tombstones_by_deleted ON tombstones(deleted_at)",
    )),
    # Lexical search: the same FTS5 definition as the local store's 0003_search.
    Migration("0004_search", fts5_statements()),
    # Long memories (server/storage/cloud/parts.py): the vectors of a memory's later parts. A row is written
    # before its vector and outlives its memory until the vector is deleted, so the drift check finds every
    # part vector that a failed write or delete left behind.
    Migration("0005_parts", (
        "CREATE TABLE IF NOT EXISTS memory_parts (vector_id TEXT PRIMARY KEY, content_hash TEXT NOT NULL, "
        "part INTEGER NOT NULL, start INTEGER NOT NULL, stop INTEGER NOT NULL, written_at REAL NOT NULL)",
        "CREATE INDEX IF NOT EXISTS memory_parts_by_memory ON memory_parts(content_hash)",
    )),
    # D1 bills every row a query visits: these let the change-log trim and the leftover-part search read only
    # the rows they are about, not the whole table (each drift check ran both).
    Migration("0006_time_indexes", (
        "CREATE INDEX IF NOT EXISTS change_log_by_time ON change_log(changed_at)",
        "CREATE INDEX IF NOT EXISTS memory_parts_by_written ON memory_parts(written_at)",
    )),
    # The dashboard counts the server's own memories (associations, summaries) apart: through this index it
    # reads only those rows (as the local schema's memories_by_type does).
    Migration("0007_type_index", (
        "CREATE INDEX IF NOT EXISTS memories_by_type ON memories(memory_type, created_at)",
    )),
)


class D1Target:
    """A D1 database as a migration target: statements one by one (idempotent), no transaction."""

    def __init__(self, sql: Callable[[str, Sequence[Any]], list[dict[str, Any]]]) -> None:
        self.sql = sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.sql(sql, params)

    def applied(self) -> set[str]:
        return {row["name"] for row in self.sql("SELECT name FROM schema_migrations", [])}

    def step(self) -> AbstractContextManager[None]:
        return nullcontext()
