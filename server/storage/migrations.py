"""Named, versioned schema migrations for the sqlite_vec backend.

Each migration runs in the same transaction as the row that records it, under BEGIN IMMEDIATE, so two
server processes starting at once cannot both apply it, and a crash leaves it either applied and
recorded or neither. Migrations are append-only: never edit one that has shipped; add a new one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_memories",
        """
        CREATE TABLE memories (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            content_hash TEXT NOT NULL UNIQUE,
            content TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '[]',        -- JSON array, for reading; memory_tags is for filtering
            memory_type TEXT,
            metadata TEXT NOT NULL DEFAULT '{}',    -- JSON object
            created_at REAL NOT NULL,
            created_at_iso TEXT NOT NULL,
            updated_at REAL NOT NULL,
            updated_at_iso TEXT NOT NULL
        );
        CREATE INDEX memories_by_created ON memories(created_at);
        CREATE INDEX memories_by_type ON memories(memory_type, created_at);
        CREATE TABLE memory_tags (
            tag TEXT NOT NULL,
            memory_id INTEGER NOT NULL,
            PRIMARY KEY (tag, memory_id)
        ) WITHOUT ROWID;
        CREATE INDEX memory_tags_by_memory ON memory_tags(memory_id);
        -- float32 vectors in sqlite-vec's own blob format, so its SQL functions work on them
        CREATE TABLE memory_vectors (
            memory_id INTEGER PRIMARY KEY,
            embedding BLOB NOT NULL
        );
        -- Every change to the set of vectors, in commit order, so each process's in-memory index can
        -- catch up with writes made by other processes (e.g. Claude Desktop's server and an HTTP one).
        CREATE TABLE vector_log (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            memory_id INTEGER NOT NULL,
            op TEXT NOT NULL CHECK (op IN ('add', 'del'))
        );
        CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """,
    ),
    Migration(
        "0002_sync_and_graph",
        """
        -- Hybrid: one row per memory whose cloud copy is behind, written in the same transaction as the
        -- change itself. The worker sends the memory's state at send time (upsert if it exists, delete if
        -- it was deleted), so the row needs no payload and repeated changes coalesce. `version` lets the
        -- worker remove only the row it sent: a change made meanwhile bumps it and is sent again.
        CREATE TABLE sync_outbox (
            content_hash TEXT PRIMARY KEY,
            op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
            version INTEGER NOT NULL DEFAULT 1,
            queued_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL DEFAULT 0,
            last_error TEXT,
            parked_at REAL                           -- set when the operation can never succeed
        );
        CREATE INDEX sync_outbox_due ON sync_outbox(parked_at, next_attempt_at, queued_at);
        -- Deleted memories, so that no sync brings them back. A memory stored again after its delete
        -- (created_at > deleted_at) is a new memory and clears the tombstone.
        CREATE TABLE tombstones (content_hash TEXT PRIMARY KEY, deleted_at REAL NOT NULL);
        -- Sync bookkeeping shared by every process on this database (last sync, last error, cursors).
        CREATE TABLE sync_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        -- Edges between memories, derived from association memories (which sync); never synced itself.
        CREATE TABLE memory_graph (
            source_hash TEXT NOT NULL,
            target_hash TEXT NOT NULL,
            similarity REAL NOT NULL,
            association_hash TEXT NOT NULL,
            PRIMARY KEY (source_hash, target_hash)
        ) WITHOUT ROWID;
        CREATE INDEX memory_graph_by_target ON memory_graph(target_hash);
        CREATE INDEX memory_graph_by_association ON memory_graph(association_hash);
        """,
    ),
)


def apply_migrations(conn: Any, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied now."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    applied_now = []
    for migration in migrations:
        if _is_applied(conn, migration.name):
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Checked again inside the write lock: another process may have applied it meanwhile.
            if not _is_applied(conn, migration.name):
                for statement in _statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)", (migration.name, time.time())
                )
                applied_now.append(migration.name)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    if applied_now:
        logger.info("Applied migrations: %s", ", ".join(applied_now))
    return applied_now


def applied_migrations(conn: Any) -> list[str]:
    return [row[0] for row in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]


def _is_applied(conn: Any, name: str) -> bool:
    return conn.execute("SELECT 1 FROM schema_migrations WHERE name = ?", (name,)).fetchone() is not None


def _statements(sql: str) -> list[str]:
    # executescript() would COMMIT our transaction first, so statements run one by one.
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
