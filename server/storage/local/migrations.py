"""Named, versioned schema migrations for the sqlite_vec backend.

Each migration runs in the same transaction as the row that records it, under BEGIN IMMEDIATE, so two
server processes starting at once cannot both apply it, and a crash leaves it either applied and
recorded or neither. Migrations are append-only: never edit one that has shipped; add a new one.
"""

from __future__ import annotations

import logging
import sqlite3
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
    Migration(
        "0003_search",
        """
        -- Lexical search beside the vectors: FTS5 over content and tags, kept in step with `memories` by
        -- triggers, so every write path (store, import, sync, update, delete) updates it in its own
        -- transaction. External content: the text is not stored twice. Porter stemming finds "running"
        -- for "run"; unicode61 splits identifiers at punctuation, and a quoted query word ("E1042",
        -- "app.py", "ERR_RESET") is matched as a phrase of its parts, so identifiers stay findable.
        CREATE VIRTUAL TABLE memory_text USING fts5(
            content, tags, content='memories', content_rowid='id',
            tokenize='porter unicode61 remove_diacritics 2'
        );
        INSERT INTO memory_text(memory_text) VALUES ('rebuild');
        CREATE TRIGGER memory_text_insert AFTER INSERT ON memories BEGIN
            INSERT INTO memory_text(rowid, content, tags) VALUES (new.id, new.content, new.tags);
        END;
        CREATE TRIGGER memory_text_delete AFTER DELETE ON memories BEGIN
            INSERT INTO memory_text(memory_text, rowid, content, tags) VALUES ('delete', old.id, old.content, old.tags);
            DELETE FROM memory_chunks WHERE memory_id = old.id;
        END;
        CREATE TRIGGER memory_text_update AFTER UPDATE OF content, tags ON memories BEGIN
            INSERT INTO memory_text(memory_text, rowid, content, tags) VALUES ('delete', old.id, old.content, old.tags);
            INSERT INTO memory_text(rowid, content, tags) VALUES (new.id, new.content, new.tags);
        END;
        -- A long memory's further vectors: one per overlapping chunk after the first (whose vector is in
        -- memory_vectors). Few rows in usual use, so they are scanned in SQL rather than mirrored in memory.
        CREATE TABLE memory_chunks (
            id INTEGER PRIMARY KEY,
            memory_id INTEGER NOT NULL,
            embedding BLOB NOT NULL
        );
        CREATE INDEX memory_chunks_by_memory ON memory_chunks(memory_id);
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
    # executescript() would COMMIT our transaction first, so statements run one by one. A part is one
    # statement once SQLite says it is complete: a trigger's body holds semicolons of its own.
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    statements, pending = [], ""
    for part in "\n".join(lines).split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                statements.append(pending.strip().rstrip(";").strip())
            pending = ""
    return statements
