"""The local store's schema: its named migrations, run by the shared runner (server/storage/migrate.py).

Migrations are append-only: never edit one that has shipped; add a new one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from server.storage.migrate import Migration, migrate, script
from server.storage.search_schema import fts5_statements

MIGRATIONS: tuple[Migration, ...] = (
    Migration("0001_memories", script("""
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
        """)),
    Migration("0002_sync_and_graph", script("""
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
        """)),
    Migration("0003_search", (
        # Lexical search beside the vectors (server/storage/search_schema.py); a delete also removes the
        # memory's chunk vectors.
        *fts5_statements(also_on_delete="DELETE FROM memory_chunks WHERE memory_id = old.id"),
        *script("""
        -- A long memory's further vectors: one per overlapping chunk after the first (whose vector is in
        -- memory_vectors). Few rows in usual use, so they are scanned in SQL rather than mirrored in memory.
        CREATE TABLE memory_chunks (
            id INTEGER PRIMARY KEY,
            memory_id INTEGER NOT NULL,
            embedding BLOB NOT NULL
        );
        CREATE INDEX memory_chunks_by_memory ON memory_chunks(memory_id);
        """),
    )),
)


class LocalTarget:
    """Our SQLite file as a migration target: each migration and its record in one BEGIN IMMEDIATE
    transaction, so two server processes starting at once cannot both apply it, and a crash leaves it
    either applied and recorded or neither. (executescript() would COMMIT that transaction first, so
    statements run one by one.)"""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(sql, tuple(params))

    def applied(self) -> set[str]:
        return {row[0] for row in self.conn.execute("SELECT name FROM schema_migrations")}

    @contextmanager
    def step(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise


def apply_migrations(conn: Any, migrations: Sequence[Migration] = MIGRATIONS) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied now."""
    return migrate(LocalTarget(conn), migrations)


def applied_migrations(conn: Any) -> list[str]:
    return [row[0] for row in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
