"""The local backend: memories in SQLite, vectors in sqlite-vec's format, searched in memory.

Concurrency: every write runs under BEGIN IMMEDIATE, so a writer takes the database's write lock up
front and SQLite's busy handler (busy_timeout) queues it behind other processes' writers. A deferred
transaction that later tries to write cannot wait (SQLite returns "database is locked" at once when its
read snapshot is stale), which is where the leading project's lock errors came from.

Search never writes. It uses the in-memory `VectorIndex` once loaded and catches it up from
`vector_log` (written in the same transaction as each vector), so writes from other processes are seen.
Until the index is loaded (cold start on a large database) searches run as an exact SQL scan with
sqlite-vec's `vec_distance_cosine`, so the first search never waits for the load.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from server.storage.local import graph_table as graph
from server.embeddings.base import Embedder, embedder_status
from server.errors import StorageError
from server.storage.local import outbox, sqlite_driver, vector_mirror, wal_guard
from server.storage.local.graph_table import GraphTable
from server.storage.local.ledger import SyncLedger
from server.record import Memory, MetadataChange, UnreadableRecord, changed, from_row, to_row
from server.record.status import Health, HealthDetails, VectorIndexStatus
from server.storage.base import MemoryFilter, ScoredMemory
from server.storage.local.file_health import FileWatch, IntegrityCheck, database_size, explain_write_failure, health_problems
from server.storage.local.identify import require_ours
from server.storage.local.migrations import applied_migrations, apply_migrations
from server.storage.rows import COLUMNS as _COLUMNS
from server.storage.rows import INSERT_NAMED, UPDATE_NAMED, chunks, named, named_in, rows_in
from server.storage.rows import filter_sql as _filter_sql
from server.storage.rows import readable
from server.storage.local.vector_index import VectorIndex
from server.search import DEFAULT_MODE
from server.embeddings.texts import TextVectors
from server.storage.local import local_search
from server.storage import stats
from server.storage.local.chunk_index import ChunkIndex

logger = logging.getLogger(__name__)

_REPORTED_PRAGMAS = ["journal_mode", "synchronous", "busy_timeout", "cache_size", "temp_store", "mmap_size",
                     "wal_autocheckpoint", "journal_size_limit"]
_LOG_KEEP = 10_000  # vector_log entries kept; a process further behind reloads its index in full


class SqliteVecStorage:
    backend_name = "sqlite_vec"

    def __init__(self, path: Path, pragmas: tuple[tuple[str, str], ...], embedder: Embedder,
                 driver: ModuleType | None = None, outbox: bool = False) -> None:
        self.path = path
        self.pragmas = pragmas
        self.embedder = embedder
        self._driver = driver
        self._conn: Any = None
        self._lock = threading.RLock()
        self._index: VectorIndex | None = None  # None until loaded
        # The local store of a hybrid setup: every change also queues its memory in the sync outbox, in the same
        # transaction, so no change can be lost between the local write and the cloud copy.
        self.outbox = outbox
        self.ledger = SyncLedger(self._read, self._write)  # the outbox and sync state, on our connection
        self.graph = GraphTable(self._read, self._write)  # the association graph table, on our connection
        self._watch: FileWatch | None = None
        self._gone: str | None = None  # why, once the file was replaced under us: every call says so
        self._integrity = IntegrityCheck(self._scan_connection)
        self.vectors = TextVectors(embedder)
        self._chunks = ChunkIndex()  # long memories' further windows, mirrored for search

    # -- lifecycle -------------------------------------------------------------------------------

    def open(self) -> None:
        if self._driver is None:
            self._driver = sqlite_driver.pick_driver()
        # Connecting sets WAL mode and migrating adds tables: both are writes, so first make sure the
        # file is ours (or new). Another program's database stays byte-identical.
        require_ours(self.path, self._driver)  # the same SQLite library as our connections: see identify()
        foreign = wal_guard.foreign_log(self.path, self._driver)
        if foreign is not None:  # the file was replaced while a server ran: its log must not be applied to it
            moved = wal_guard.set_aside(self.path)
            logger.warning("%s: %s; moved it aside, unapplied: %s", self.path, foreign, ", ".join(map(str, moved)))
        self._conn = self._connect()
        try:
            apply_migrations(self._conn)
            self._check_model()
            stamp = wal_guard.ensure_stamp(self._conn)
        except self._driver.Error as exc:
            raise StorageError(f"Cannot prepare the database {self.path}: {exc}") from exc
        # The file this connection opened: checked before every read, write and search.
        self._watch = FileWatch(self.path, self._driver, stamp)
        self._gone = None

    def warm_up(self) -> None:
        start = getattr(self.embedder, "start", None)  # a background loader: start the model now
        if callable(start):
            start()
        self._load_index()

    def close(self) -> None:
        self.vectors.close()
        settle = getattr(self.embedder, "settle", None)
        if callable(settle):
            settle(30.0)
        with self._lock:
            if self._conn is not None:
                problem = self._watch.problem() if self._watch is not None else None
                if problem is not None:
                    self._let_go(problem)
                else:
                    self._conn.close()
                self._conn = None

    def _connect(self) -> Any:
        assert self._driver is not None
        return sqlite_driver.connect(self.path, self.pragmas, self._driver)

    def _check_model(self) -> None:
        """A database holds vectors of one model; refuse to mix in another's."""
        wanted = {"embedding_model": self.embedder.model_name, "embedding_dimension": str(self.embedder.dimension)}
        stored = dict(self._conn.execute("SELECT key, value FROM store_meta").fetchall())
        for key, value in wanted.items():
            if key in stored and stored[key] != value:
                raise StorageError(
                    f"The database {self.path} holds vectors from {stored[key]!r} ({key}), but the server is "
                    f"set to {value!r}. Set MCP_EMBEDDING_MODEL to match, or point MCP_MEMORY_SQLITE_PATH "
                    "to a new file."
                )
        if stored.keys() < wanted.keys():
            with self._write() as conn:
                conn.executemany("INSERT OR IGNORE INTO store_meta (key, value) VALUES (?, ?)", wanted.items())

    # -- transactions ----------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Any]:
        with self._lock:
            conn = self._guarded_conn()  # never acknowledge a write that lands in a replaced file
            try:
                conn.execute("BEGIN IMMEDIATE")
            except self._driver.OperationalError as exc:  # type: ignore[union-attr]
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise StorageError(explain_write_failure(self.path, exc)) from exc
                raise StorageError(
                    f"The database stayed locked by another process for longer than busy_timeout "
                    f"({sqlite_driver.busy_timeout_ms(self.pragmas)} ms): {exc}. Retry; if it persists, look for a stuck server process."
                ) from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                # SQLite may have rolled back already (a full disk does): a second ROLLBACK would fail and
                # hide the real cause, so roll back only what is still open, and never over the cause.
                if conn.in_transaction:
                    with suppress(Exception):
                        conn.execute("ROLLBACK")
                if isinstance(exc, self._driver.Error):  # type: ignore[union-attr]
                    raise StorageError(explain_write_failure(self.path, exc)) from exc
                raise

    @contextmanager
    def _read(self) -> Iterator[Any]:
        """A consistent snapshot for multi-statement reads. Reads never take the write lock."""
        with self._lock:
            conn = self._guarded_conn()  # never answer from a file that is no longer the one at the path
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def _require_conn(self) -> Any:
        if self._conn is None:
            if self._gone is not None:  # said as it is now: replaced, then deleted, says deleted
                raise _replaced_error((self._watch.problem() if self._watch else None) or self._gone)
            raise StorageError("The storage is closed.")
        return self._conn

    def _guarded_conn(self) -> Any:
        """The connection, if the path still holds the file it opened; else it is let go (once) and every call
        from then on says why and what to do."""
        conn = self._require_conn()
        problem = self._watch.problem() if self._watch is not None else None
        if problem is None:
            return conn
        self._let_go(problem)
        raise _replaced_error(problem)

    def _let_go(self, problem: str) -> None:
        """Stop using a file that was replaced under us, so that what is at the path now opens clean at the next
        start: our log and its index are moved aside (SQLite would write them into the new file), and on a file
        copied over ours (the same inode) the connection is never closed, since its close would do that too."""
        assert self._watch is not None and self._conn is not None
        moved = wal_guard.set_aside(self.path, self._watch.sidecars)
        if self._watch.same_inode:
            wal_guard.abandon(self._conn)
        else:
            self._conn.close()  # SQLite does not checkpoint into a file that was moved away
        self._conn = None
        self._gone = problem
        logger.error("%s; this server stopped using it%s", problem,
                     f" and moved its unapplied log aside ({', '.join(map(str, moved))})" if moved else "")

    # -- writes ----------------------------------------------------------------------------------

    def store(self, memory: Memory) -> tuple[Memory, bool]:
        existing = self.get(memory.content_hash)
        if existing is not None:
            return existing, False
        vector = self.vectors.one(memory.content)  # outside the lock: embedding is the slow part
        pieces = self.vectors.pieces(memory.content)
        with self._write() as conn:
            created = self._insert(conn, memory, vector, pieces)
            if created:
                self._changed(conn, [memory.content_hash], "upsert", record=not memory.is_probe)
        if not created:  # another process stored the same content since our check
            return self.get(memory.content_hash) or memory, False
        return memory, True

    def store_many(self, memories: Sequence[Memory], record: bool) -> int:
        """Store memories as they are (timestamps kept), embedded in one batch; skips hashes already here.
        Used by sync to bring cloud memories in: `record=False` queues nothing for the cloud."""
        fresh = [m for m in memories if self.get(m.content_hash) is None]
        if not fresh:
            return 0
        vectors = np.asarray(self.embedder.embed([m.content for m in fresh]), dtype=np.float32)
        pieces = [self.vectors.pieces(m.content) for m in fresh]
        with self._write() as conn:
            stored = [m.content_hash for m, v, p in zip(fresh, vectors, pieces) if self._insert(conn, m, v, p)]
            self._changed(conn, stored, "upsert", record=record)
        return len(stored)

    def known(self, hashes: Sequence[str]) -> tuple[set[str], dict[str, float]]:
        with self._read() as conn:
            present = {r[0] for r in rows_in(conn, "SELECT content_hash FROM memories WHERE content_hash", hashes)}
            buried = {r[0]: r[1] for r in rows_in(conn, "SELECT content_hash, deleted_at FROM tombstones "
                                                        "WHERE content_hash", hashes)}
        return present, buried

    def import_batch(self, memories: Sequence[Memory]) -> int:
        # Recorded like any change: with hybrid, imported memories reach the cloud through the outbox.
        return self.store_many(memories, record=True)

    def _insert(self, conn: Any, memory: Memory, vector: np.ndarray, pieces: np.ndarray | None = None) -> bool:
        row = conn.execute(f"{INSERT_NAMED} ON CONFLICT (content_hash) DO NOTHING RETURNING id",
                           to_row(memory)).fetchone()
        if row is None:
            return False
        memory_id = row[0]
        conn.execute("INSERT INTO memory_vectors (memory_id, embedding) VALUES (?, ?)", (memory_id, vector.tobytes()))
        if pieces is not None and len(pieces):
            conn.executemany("INSERT INTO memory_chunks (memory_id, embedding) VALUES (?, ?)",
                             [(memory_id, piece.tobytes()) for piece in pieces])
        _write_tags(conn, memory_id, memory.tags)
        self._log_vectors(conn, [memory_id], "add")
        conn.execute("DELETE FROM tombstones WHERE content_hash = ?", (memory.content_hash,))  # stored anew
        graph.write_edges(conn, [memory])
        return True

    def retry_parked(self) -> int:
        """Send parked sync operations again (their cause may be fixed); returns how many."""
        return self.ledger.make_due(unpark=True)

    def _changed(self, conn: Any, hashes: Sequence[str], op: str, record: bool = True) -> None:
        if record and self.outbox and hashes:
            outbox.enqueue(conn, hashes, op)

    def update_metadata(self, content_hash: str, change: MetadataChange, now: float) -> Memory | None:
        with self._write() as conn:
            row = next(named(conn.execute(f"SELECT id, {_COLUMNS} FROM memories WHERE content_hash = ?",
                                          (content_hash,))), None)
            if row is None:
                return None
            memory_id = row["id"]
            updated = changed(from_row(row), change, now)
            conn.execute(UPDATE_NAMED, to_row(updated))
            if change.tags is not None:
                conn.execute("DELETE FROM memory_tags WHERE memory_id = ?", (memory_id,))
                _write_tags(conn, memory_id, updated.tags)
            conn.execute("DELETE FROM memory_graph WHERE association_hash = ?", (content_hash,))
            graph.write_edges(conn, [updated])
            self._changed(conn, [content_hash], "upsert")
            return updated

    def replace_metadata(self, memory: Memory, record: bool) -> bool:
        """Make the stored memory's tags, type, metadata and updated_at equal `memory`'s (sync pulls)."""
        with self._write() as conn:
            row = conn.execute("SELECT id FROM memories WHERE content_hash = ?", (memory.content_hash,)).fetchone()
            if row is None:
                return False
            conn.execute(UPDATE_NAMED, to_row(memory))
            conn.execute("DELETE FROM memory_tags WHERE memory_id = ?", (row[0],))
            _write_tags(conn, row[0], memory.tags)
            conn.execute("DELETE FROM memory_graph WHERE association_hash = ?", (memory.content_hash,))
            graph.write_edges(conn, [memory])
            self._changed(conn, [memory.content_hash], "upsert", record=record)
        return True

    def delete(self, content_hash: str) -> bool:
        try:
            existing = self.get(content_hash)
        except UnreadableRecord:  # a record that cannot be shown can still be deleted
            return bool(self.delete_many([content_hash], time.time(), record=True))
        if existing is None:  # nothing to delete: write no tombstone, queue nothing
            return False
        if existing.is_probe:  # never synced: forget it without a trace
            with self._write() as conn:
                ids = [r[0] for r in conn.execute("SELECT id FROM memories WHERE content_hash = ?", (content_hash,))]
                self._delete_ids(conn, ids)
            return bool(ids)
        return bool(self.delete_many([content_hash], time.time(), record=True))

    def delete_many(self, hashes: Sequence[str], deleted_at: float, record: bool) -> list[str]:
        """Delete these memories and leave tombstones (so no sync brings them back); returns those found.
        A tombstone is written even for a memory not here, so a copy arriving later is refused too."""
        with self._write() as conn:
            rows = list(rows_in(conn, "SELECT id, content_hash FROM memories WHERE content_hash", list(hashes)))
            self._delete_ids(conn, [r[0] for r in rows])
            self._bury(conn, hashes, deleted_at)
            self._changed(conn, list(hashes), "delete", record=record)
        return [r[1] for r in rows]

    def delete_where(self, where: MemoryFilter) -> Sequence[str]:
        if where.is_empty:
            raise StorageError("Refusing to delete every memory: give at least one filter.")
        clause, params = _filter_sql(where)
        with self._write() as conn:
            rows = conn.execute(f"SELECT id, content_hash FROM memories m WHERE {clause}", params).fetchall()
            self._delete_ids(conn, [r[0] for r in rows])
            hashes = [r[1] for r in rows]
            self._bury(conn, hashes, time.time())
            self._changed(conn, hashes, "delete")
        return hashes

    @staticmethod
    def _bury(conn: Any, hashes: Sequence[str], deleted_at: float) -> None:
        conn.executemany(
            "INSERT INTO tombstones (content_hash, deleted_at) VALUES (?, ?) ON CONFLICT (content_hash) "
            "DO UPDATE SET deleted_at = max(deleted_at, excluded.deleted_at)", [(h, deleted_at) for h in hashes])
        graph.remove_edges_touching(conn, hashes)

    def _delete_ids(self, conn: Any, ids: list[int]) -> None:
        for chunk in chunks(ids):
            marks = ",".join("?" * len(chunk))
            conn.execute(f"DELETE FROM memory_tags WHERE memory_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM memory_vectors WHERE memory_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM memories WHERE id IN ({marks})", chunk)
        self._log_vectors(conn, ids, "del")

    def _log_vectors(self, conn: Any, ids: list[int], op: str) -> None:
        conn.executemany("INSERT INTO vector_log (memory_id, op) VALUES (?, ?)", [(i, op) for i in ids])
        last = conn.execute("SELECT max(seq) FROM vector_log").fetchone()[0]
        if last % 1000 < len(ids):  # trim now and then, not on every write
            conn.execute("DELETE FROM vector_log WHERE seq <= ?", (last - _LOG_KEEP,))

    # -- reads -----------------------------------------------------------------------------------

    def get(self, content_hash: str) -> Memory | None:
        with self._lock:
            return self._get(self._require_conn(), content_hash)

    def _get(self, conn: Any, content_hash: str) -> Memory | None:
        row = next(named(conn.execute(f"SELECT {_COLUMNS} FROM memories WHERE content_hash = ?", (content_hash,))),
                   None)
        return None if row is None else from_row(row)

    def page(self, where: MemoryFilter, offset: int, limit: int) -> tuple[list[Memory], int]:
        clause, params = _filter_sql(where)
        with self._read() as conn:
            total = conn.execute(f"SELECT count(*) FROM memories m WHERE {clause}", params).fetchone()[0]
            rows = list(named(conn.execute(
                f"SELECT {_COLUMNS} FROM memories m WHERE {clause} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
                [*params, limit, offset])))
        return list(readable(rows)), total

    def search(self, query: str, n_results: int, where: MemoryFilter, min_similarity: float = 0.0,
               mode: str = DEFAULT_MODE) -> list[ScoredMemory]:
        with self._lock:
            self._guarded_conn()  # never answer from a file that is no longer there
        question = self.vectors.soon(query) if mode != "lexical" else None
        lexical = None
        if mode == "hybrid":  # the words are looked up while the question is embedded (in another thread)
            with self._read() as conn:
                lexical = local_search.lexical_side(conn, query, local_search.candidate_count(n_results), where)
        # Waited for outside the lock: a model still loading must not hold up other reads and writes.
        vector = question() if question is not None else np.zeros(self.embedder.dimension, np.float32)
        with self._read() as conn:
            if self._index is not None:
                vector_mirror.catch_up(conn, self._index)
            hits = local_search.search(conn, self._index, self._chunks, vector, query, n_results, where, mode,
                                       self._scan_connection, lexical)
            clipped = [(memory_id, min(1.0, max(0.0, score)), why) for memory_id, score, why in hits]
            hits = [hit for hit in clipped if hit[1] >= min_similarity]
            memories = _memories_by_id(conn, [memory_id for memory_id, _, _ in hits])
        return [ScoredMemory(memories[i], round(score, 6), why) for i, score, why in hits if i in memories]

    # -- the in-memory index ---------------------------------------------------------------------

    @contextmanager
    def _scan_connection(self) -> Iterator[Any]:
        """A short-lived connection for one pass over every vector, in a read transaction of its own.

        A page cache would only keep pages that are not read again: at 100k memories the configured
        cache_size (80 MB by default) would fill with vector pages and stay resident in the server. Read-only:
        it never creates the file (one deleted under the server stays deleted) and never writes.
        """
        assert self._driver is not None
        busy = [(name, value) for name, value in self.pragmas if name == "busy_timeout"]
        with sqlite_driver.snapshot(self.path, (*busy, ("cache_size", "-1024")), self._driver, read_only=True) as conn:
            yield conn

    def _load_index(self) -> None:
        """Read every vector through a connection of its own, so searches go on meanwhile."""
        with self._scan_connection() as conn:
            index = vector_mirror.load(conn, self.embedder.dimension)
        with self._lock:
            self._index = index
        logger.info("Vector index loaded: %d vectors", len(index))

    def stats(self) -> dict[str, Any]:
        with self._read() as conn:
            return stats.stats(lambda sql, params: [tuple(r) for r in conn.execute(sql, params)])

    # -- health ----------------------------------------------------------------------------------

    def health(self) -> Health:
        try:
            with self._lock:
                self._guarded_conn()
        except StorageError as exc:  # replaced under us (or closed): nothing here can be read truthfully
            return Health(backend=self.backend_name, status="failing", problems=[str(exc)], total_memories=0,
                          database_size_bytes=database_size(self.path), embedding=embedder_status(self.embedder),
                          details=HealthDetails(database_path=str(self.path)))
        damaged = self._integrity.problems()  # a connection of its own, outside the lock
        with self._read() as conn:
            memories = conn.execute("SELECT count(*) FROM memories").fetchone()[0]
            tags = conn.execute("SELECT count(DISTINCT tag) FROM memory_tags").fetchone()[0]
            versions = conn.execute("SELECT sqlite_version(), vec_version()").fetchone()
            pragmas = sqlite_driver.effective_pragmas(conn, _REPORTED_PRAGMAS)
            migrations = applied_migrations(conn)
            status, problems = health_problems(conn, self.path, None, damaged, self._integrity.unreadable)
        index = self._index
        return Health(
            backend=self.backend_name, status=status, problems=problems, total_memories=memories,
            database_size_bytes=database_size(self.path), embedding=embedder_status(self.embedder), pragmas=pragmas,
            details=HealthDetails(
                database_path=str(self.path), integrity_checked_at=self._integrity.checked_at, unique_tags=tags,
                sqlite_driver=self._driver.__name__ if self._driver else None, sqlite_version=versions[0],
                sqlite_vec_version=versions[1], migrations=migrations,
                vector_index=VectorIndexStatus(loaded=index is not None, vectors=len(index) if index else 0,
                                               bytes=index.nbytes if index else 0)),
        )


def _replaced_error(problem: str) -> StorageError:
    return StorageError(f"Nothing was done: {problem}. Restart the server (restart your AI client) so it opens the "
                        "file that is there now.")


def _write_tags(conn: Any, memory_id: int, tags: Sequence[str]) -> None:
    conn.executemany("INSERT OR IGNORE INTO memory_tags (tag, memory_id) VALUES (?, ?)", [(t, memory_id) for t in tags])


def _memories_by_id(conn: Any, ids: list[int]) -> dict[int, Memory]:
    rows = named_in(conn, f"SELECT id, {_COLUMNS} FROM memories WHERE id", ids)
    return dict(readable(rows, lambda r: (r["id"], from_row(r))))
