"""The Cloudflare copy as one batched replica: D1 rows (one transaction per write, D1's batch form), Vectorize
vectors (id = content hash) and Workers AI embeddings. Its methods raise typed CloudflareErrors, so the hybrid
sync can tell a retry from a refusal; the plain cloudflare backend (server/storage/cloud/cloudflare.py) wraps it and
translates errors in one place.

Write order keeps D1 honest: the vectors go first and the rows after in one transaction, the vectors being
removed again if the rows fail; a delete removes the rows first. A vector left without a row is never returned
(searches read rows), and the drift check removes it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar


from server.cloudflare.client import CloudflareClient
from server.cloudflare.errors import CloudflareError
from server.errors import StorageError
from server.storage.cloud import checks, parts
from server.storage.cloud.schema import MIGRATIONS, D1Target
from server.storage.migrate import migrate
from server.record import Memory
from server.record import CHANGEABLE, NAMES, from_row
from server.storage.rows import COLUMNS, readable, values_in_order
from server.storage.cloud.unindexed import UnindexedVectors

D1_MAX_PARAMS = 100  # bound parameters per D1 query
WRITE_GRACE = 600.0  # seconds a part row may wait for its memory's row (a write in progress elsewhere)
_ID_BATCH = 100  # ids per Vectorize get/delete request
T = TypeVar("T")


class CloudReplica:
    def __init__(self, client: CloudflareClient, database_id: str, index: str, model: str,
                 shared_settings: dict[str, str] | None = None) -> None:
        self.client, self.database_id, self.index, self.model = client, database_id, index, model
        self.unindexed = UnindexedVectors()  # our writes that Vectorize may not serve yet
        # Settings that must be equal on every device using this database (recorded on first use).
        self.shared_settings = checks.shared_settings(model, shared_settings)
        # Longer memories are embedded in parts of this length: shared, so every device cuts them alike.
        self.part_length = int(self.shared_settings["part_length"])

    def open(self) -> None:
        try:
            config = self.client.index_get(self.index).get("config", {})
            problem = checks.dimension_problem(self.index, config.get("dimensions"), self.model)
            if problem is not None:
                raise StorageError(f"Cannot use {problem}: {checks.DIMENSION_HINT}.")
            foreign = checks.foreign_d1_schema(lambda statement: self.sql(statement))
            if foreign is not None:  # creating our tables in it would already be a write
                raise StorageError(f"The D1 database {self.database_id} {foreign}; it was left untouched: "
                                   f"{checks.FOREIGN_DATABASE_HINT}.")
            migrate(D1Target(self.sql), MIGRATIONS)
            self._check_shared_settings()
        except CloudflareError as exc:
            raise StorageError(f"Cannot open the Cloudflare storage: {exc}. Run `install.py doctor`.") from exc

    def _check_shared_settings(self) -> None:
        """Record the shared settings on first use; refuse to start when this device disagrees."""
        pairs = list(self.shared_settings.items())
        self.sql("INSERT OR IGNORE INTO shared_settings (key, value) VALUES " + ", ".join("(?, ?)" for _ in pairs),
                 [v for pair in pairs for v in pair])
        recorded = {r["key"]: r["value"] for r in self.sql("SELECT key, value FROM shared_settings")}
        clashes = checks.settings_clashes(recorded, self.shared_settings)
        if clashes:
            raise StorageError("This device's settings differ from those recorded in the Cloudflare database by the "
                               f"first device: {'; '.join(clashes)}. To fix: {checks.SHARED_SETTINGS_HINT}.")

    def usage(self) -> dict[str, int]:
        return self.client.usage.snapshot()

    def close(self) -> None:
        self.client.close()

    def sql(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.client.d1_query(self.database_id, sql, list(params))

    def put_new(self, memories: Sequence[Memory]) -> list[str]:
        """Add memories not yet in D1; returns the hashes whose rows were created (a row that exists already is
        left alone). The vectors go first, then every row, tag, tombstone removal and change-log entry in one D1
        transaction: a failure leaves either the whole memory or nothing findable (a vector without its row is
        never returned by a search, and is removed again here or by the drift check)."""
        if not memories:
            return []
        cut = {m.content_hash: parts.parts(m.content_hash, m.content, self.part_length) for m in memories}
        pieces = [(m, p) for m in memories for p in cut[m.content_hash]]
        # The links first: a part's vector is never without its row, so a failed write below leaves nothing the
        # drift check cannot find (part rows without a memory have their vectors removed).
        self._batch(_link_statements([(m.content_hash, p) for m, p in pieces if p.number > 0]))
        vectors = self.client.embed(self.model, [m.content[p.start:p.stop] for m, p in pieces])
        mutations = self.client.upsert(self.index, [
            {"id": p.vector_id, "values": v,
             "metadata": {"content_hash": m.content_hash, "created_at": m.created_at, "part": p.number}}
            for (m, p), v in zip(pieces, vectors)])
        self.unindexed.add(((p.vector_id, m.content_hash, v) for (m, p), v in zip(pieces, vectors)),
                           mutations[-1] if mutations else None)
        row = f"({', '.join('?' * len(NAMES))})"
        inserts = [(f"INSERT INTO memories ({COLUMNS}) VALUES " + ", ".join([row] * len(chunk))
                    + " ON CONFLICT (content_hash) DO NOTHING RETURNING content_hash",
                    [p for m in chunk for p in values_in_order(m)])
                   for chunk in _chunks(memories, D1_MAX_PARAMS // len(NAMES))]
        # Rows created now are told apart from rows already there by their created_at.
        mine = [(m.content_hash, m.created_at) for m in memories]
        statements = [*inserts,
                      *_tag_statements([(t, m.content_hash, m.created_at) for m in memories for t in m.tags]),
                      *_for_created(mine, "DELETE FROM tombstones WHERE content_hash IN (SELECT h FROM created)", []),
                      *_for_created([x for m, x in zip(memories, mine) if not m.is_probe],
                                    "INSERT INTO change_log (content_hash, changed_at) SELECT h, ? FROM created",
                                    [time.time()])]
        try:
            results = self._batch(statements)
        except CloudflareError:
            self._drop_vectors_without_rows({p.vector_id: m.content_hash for m, p in pieces})
            raise
        return [r["content_hash"] for rows in results[:len(inserts)] for r in rows]

    def _drop_vectors_without_rows(self, owners: dict[str, str]) -> None:
        """After a failed row write (owners: vector id -> memory hash): remove the vectors whose memory has no
        row (best effort; the drift check repeats it)."""
        try:
            present = set(self.existing(sorted(set(owners.values()))))
            self._delete_vectors([v for v, h in owners.items() if h not in present])
        except CloudflareError:
            pass  # still unreachable: the orphans are unfindable (no row) and the drift check removes them

    def put_metadata(self, memories: Sequence[Memory]) -> None:
        """Overwrite tags, type, metadata and updated_at of rows that exist, from these memories: one transaction."""
        statements: list[tuple[str, list[Any]]] = []
        names = ("content_hash", *CHANGEABLE)
        setting = ", ".join(f"{n} = (SELECT {n} FROM v WHERE h = content_hash)" for n in CHANGEABLE)
        for chunk in _chunks(memories, D1_MAX_PARAMS // len(names)):
            values = ", ".join([f"({', '.join('?' * len(names))})"] * len(chunk))
            params = [p for m in chunk for p in values_in_order(m, names)]
            statements.append((f"WITH v(h, {', '.join(CHANGEABLE)}) AS (VALUES {values}) UPDATE memories SET "
                               f"{setting} WHERE content_hash IN (SELECT h FROM v)", params))
        hashes = [m.content_hash for m in memories]
        statements += _delete_tag_statements(hashes)
        statements += _tag_statements([(t, m.content_hash, None) for m in memories for t in m.tags])
        statements += _log_statements(hashes)
        self._batch(statements)

    def forget(self, hashes: Sequence[str]) -> list[str]:
        """Delete these memories leaving no tombstone or change-log row (health probes only)."""
        found = self.existing(hashes)
        self._batch([*_delete_tag_statements(found), *_delete_row_statements(found)])
        self.delete_vectors_of(found)
        return found

    def bury(self, deleted: dict[str, float]) -> list[str]:
        """Delete these memories (hash -> time of deletion) and leave tombstones; returns those found.
        Tombstones, tags, rows and the change log go in one D1 transaction, then the vectors: a vector whose
        row is gone is never returned by a search, and the drift check removes any that a failure left."""
        found = self.bury_rows(deleted)
        # Every hash, not only rows found now: a retry after a failed vector delete finds no row any more.
        self.delete_vectors_of(list(deleted))
        return found

    def bury_rows(self, deleted: dict[str, float]) -> list[str]:
        """The D1 half of `bury`: tombstones, tags, rows and the change log, in one transaction."""
        hashes = list(deleted)
        found = self.existing(hashes)
        tombstones = [("INSERT INTO tombstones (content_hash, deleted_at) VALUES " + ", ".join(["(?, ?)"] * len(chunk))
                       + " ON CONFLICT (content_hash) DO UPDATE SET deleted_at = max(deleted_at, excluded.deleted_at)",
                       [p for h in chunk for p in (h, deleted[h])]) for chunk in _chunks(hashes, D1_MAX_PARAMS // 2)]
        self._batch([*tombstones, *_delete_tag_statements(found), *_delete_row_statements(found),
                     *_log_statements(hashes)])
        return found

    def buried_since(self, since: float) -> list[str]:
        """Memories deleted since then (their tombstones, through the deleted_at index)."""
        return [r["content_hash"] for r in self.sql("SELECT content_hash FROM tombstones WHERE deleted_at >= ?",
                                                    [since])]

    def repair_orphans(self, since: float, until: float) -> tuple[int, int]:
        """Vectors whose memory was deleted since `since` are removed (a vector delete that failed after its
        rows went); memories created in [since, until) without a vector get one (an upsert lost). Returns
        (vectors removed or confirmed gone, vectors restored). Run by the drift check; bounded by the window."""
        dead = [r["content_hash"] for r in self.sql("SELECT content_hash FROM tombstones WHERE deleted_at >= ?",
                                                         [since])]
        gone = set(dead) - set(self.existing(dead))
        # idempotent: deleting a vector that is not there is harmless
        self.delete_vectors_of(sorted(gone | set(self._parts_without_memory(since - WRITE_GRACE))))
        rows = self.sql("SELECT content_hash, content FROM memories WHERE created_at >= ? AND created_at < ?",
                         [since, until])
        expected = [(r["content_hash"], r["content"], p) for r in rows
                    for p in parts.parts(r["content_hash"], r["content"], self.part_length)]
        present: set[str] = set()
        for ids in _chunks([p.vector_id for _, _, p in expected], _ID_BATCH):
            present |= {v["id"] for v in self.client.get_by_ids(self.index, ids)}
        missing = [(h, text, p) for h, text, p in expected if p.vector_id not in present]
        for batch in _chunks(missing, _ID_BATCH):
            vectors = self.client.embed(self.model, [text[p.start:p.stop] for _, text, p in batch])
            self.client.upsert(self.index, [{"id": p.vector_id, "values": v, "metadata": {
                "content_hash": h, "part": p.number}} for (h, _, p), v in zip(batch, vectors)])
            self._batch(_link_statements([(h, p) for h, _, p in batch if p.number > 0]))
        return len(gone), len(missing)

    def delete_vectors_of(self, hashes: Sequence[str]) -> None:
        """Delete these memories' vectors, every part's, then the part rows (after: a failure is retried)."""
        links = self.part_ids(hashes)
        self._delete_vectors([*hashes, *links])
        for chunk in _chunks(list(links), D1_MAX_PARAMS):
            self.sql(f"DELETE FROM memory_parts WHERE vector_id IN ({_marks(chunk)}) AND NOT EXISTS "
                     "(SELECT 1 FROM memories m WHERE m.content_hash = memory_parts.content_hash)", chunk)

    def _parts_without_memory(self, since: float) -> list[str]:
        """Memories whose part rows, written since `since`, are there without them (a write or a vector delete
        that failed); not those written in the last minutes, whose memory may be being written right now by
        another device. NOT EXISTS, not NOT IN: NOT IN reads the whole memories table to build its list."""
        return [r["content_hash"] for r in self.sql(
            "SELECT DISTINCT content_hash FROM memory_parts p WHERE written_at >= ? AND written_at < ? AND NOT EXISTS "
            "(SELECT 1 FROM memories m WHERE m.content_hash = p.content_hash)", [since, time.time() - WRITE_GRACE])]

    def part_ids(self, hashes: Sequence[str]) -> dict[str, str]:
        """The vector ids of these memories' later parts -> their memory's hash (none for short memories)."""
        found: dict[str, str] = {}
        for chunk in _chunks(hashes, D1_MAX_PARAMS):
            rows = self.sql(f"SELECT vector_id, content_hash FROM memory_parts WHERE content_hash IN ({_marks(chunk)})",
                            chunk)
            found.update({r["vector_id"]: r["content_hash"] for r in rows})
        return found

    def owners(self, vector_ids: Sequence[str]) -> dict[str, str]:
        """Vector id -> the hash of the memory it belongs to (a memory's own vector has its hash as id)."""
        owners = {v: v for v in vector_ids if not parts.is_part_id(v)}
        later = [v for v in vector_ids if parts.is_part_id(v)]
        for chunk in _chunks(later, D1_MAX_PARAMS):
            rows = self.sql(f"SELECT vector_id, content_hash FROM memory_parts WHERE vector_id IN ({_marks(chunk)})",
                            chunk)
            owners.update({r["vector_id"]: r["content_hash"] for r in rows})
        return owners

    def _delete_vectors(self, hashes: Sequence[str]) -> None:
        for chunk in _chunks(hashes, _ID_BATCH):
            self.client.delete_by_ids(self.index, chunk)
            self.unindexed.remove(chunk)

    def _batch(self, statements: list[tuple[str, list[Any]]]) -> list[list[dict[str, Any]]]:
        """Statements in one D1 transaction (the batch form): all of them happen, or none."""
        return self.client.d1_batch(self.database_id, statements) if statements else []

    def fetch(self, hashes: Sequence[str]) -> dict[str, Memory]:
        found: dict[str, Memory] = {}
        for chunk in _chunks(hashes, D1_MAX_PARAMS):
            rows = self.sql(f"SELECT {COLUMNS} FROM memories WHERE content_hash IN ({_marks(chunk)})", chunk)
            found.update(readable(rows, lambda r: (r["content_hash"], _memory(r))))
        return found

    def tombstones(self, hashes: Sequence[str]) -> dict[str, float]:
        found: dict[str, float] = {}
        for chunk in _chunks(hashes, D1_MAX_PARAMS):
            rows = self.sql(f"SELECT content_hash, deleted_at FROM tombstones WHERE content_hash IN ({_marks(chunk)})",
                             chunk)
            found.update({r["content_hash"]: float(r["deleted_at"]) for r in rows})
        return found

    def changes_since(self, seq: int, limit: int = 1000) -> tuple[list[str], int]:
        """Hashes changed after change-log position `seq`, in commit order, and the new position."""
        rows = self.sql("SELECT seq, content_hash FROM change_log WHERE seq > ? ORDER BY seq LIMIT ?", [seq, limit])
        if not rows:
            return [], seq
        return list(dict.fromkeys(r["content_hash"] for r in rows)), int(rows[-1]["seq"])

    def oldest_change(self) -> int | None:
        return self.sql("SELECT min(seq) AS n FROM change_log")[0]["n"]

    def trim_change_log(self, before: float) -> None:
        """Forget changes older than `before`, always keeping the newest (it marks the position). A device
        whose cursor falls behind what is kept catches up with a full comparison instead."""
        self.sql("DELETE FROM change_log WHERE changed_at < ? AND seq < (SELECT max(seq) FROM change_log)", [before])

    def change_position(self) -> int:
        return int(self.sql("SELECT coalesce(max(seq), 0) AS n FROM change_log")[0]["n"])

    def summaries(self, page_size: int = 1000, since: float | None = None) -> dict[str, tuple[float, float]]:
        """Every memory's hash -> (created_at, updated_at), read in pages (keyset, not OFFSET). With `since`, only
        memories updated since then, in updated_at order: its index is then the one the query walks, so D1 visits
        only those rows (keyed by id, the same query visited every row of the table)."""
        found: dict[str, tuple[float, float]] = {}
        for rows in self._pages("SELECT id AS k, content_hash, created_at, updated_at FROM memories", "id",
                                "updated_at", since, page_size):
            found.update({r["content_hash"]: (float(r["created_at"]), float(r["updated_at"])) for r in rows})
        return found

    def all_tombstones(self, page_size: int = 1000, since: float | None = None) -> dict[str, float]:
        found: dict[str, float] = {}
        for rows in self._pages("SELECT rowid AS k, content_hash, deleted_at FROM tombstones", "rowid", "deleted_at",
                                since, page_size):
            found.update({r["content_hash"]: float(r["deleted_at"]) for r in rows})
        return found

    def _pages(self, select: str, key: str, time_column: str, since: float | None,
               page_size: int) -> Iterator[list[dict[str, Any]]]:
        """Pages of `select`: every row by `key`, or with `since` the rows whose `time_column` is at or after it,
        by (`time_column`, `key`), which the time column's index serves in that order."""
        last_key: Any = 0
        last_time = since
        while True:
            if since is None:
                rows = self.sql(f"{select} WHERE {key} > ? ORDER BY {key} LIMIT ?", [last_key, page_size])
            else:
                rows = self.sql(f"{select} WHERE {time_column} >= ? AND ({time_column}, {key}) > (?, ?) "
                                f"ORDER BY {time_column}, {key} LIMIT ?", [since, last_time, last_key, page_size])
            yield rows
            if len(rows) < page_size:
                return
            last_key = rows[-1]["k"]
            if since is not None:
                last_time = rows[-1][time_column]

    def existing(self, hashes: Sequence[str]) -> list[str]:
        found: list[str] = []
        for chunk in _chunks(hashes, D1_MAX_PARAMS):
            found += [r["content_hash"] for r in
                      self.sql(f"SELECT content_hash FROM memories WHERE content_hash IN ({_marks(chunk)})", chunk)]
        return found

def _memory(row: dict[str, Any]) -> Memory:
    return from_row(row)


def _tag_statements(pairs: list[tuple[str, str, float | None]]) -> list[tuple[str, list[Any]]]:
    """Tag rows for (tag, hash, created_at): with created_at, only for the row created with it."""
    statements = []
    for chunk in _chunks(pairs, D1_MAX_PARAMS // 3):
        statements.append((f"WITH t(tag, h, c) AS (VALUES {', '.join(['(?, ?, ?)'] * len(chunk))}) "
                           "INSERT OR IGNORE INTO memory_tags (tag, memory_id) SELECT t.tag, m.id FROM t "
                           "JOIN memories m ON m.content_hash = t.h AND (t.c IS NULL OR m.created_at = t.c)",
                           [p for triple in chunk for p in triple]))
    return statements


def _for_created(mine: list[tuple[str, float]], sql: str, extra: list[Any]) -> list[tuple[str, list[Any]]]:
    """`sql` over `created(h)`: those of (hash, created_at) whose row is the one created with that time."""
    return [(f"WITH t(h, c) AS (VALUES {', '.join(['(?, ?)'] * len(chunk))}), created(h) AS (SELECT t.h FROM t "
             f"JOIN memories m ON m.content_hash = t.h AND m.created_at = t.c) {sql}",
             [*(p for pair in chunk for p in pair), *extra]) for chunk in _chunks(mine, (D1_MAX_PARAMS - 1) // 2)]


def _link_statements(later: list[tuple[str, parts.Part]]) -> list[tuple[str, list[Any]]]:
    """memory_parts rows for these (memory hash, later part) pairs; a row already there is kept."""
    now = time.time()
    return [("INSERT OR IGNORE INTO memory_parts (vector_id, content_hash, part, start, stop, written_at) VALUES "
             + ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk)),
             [x for h, p in chunk for x in (p.vector_id, h, p.number, p.start, p.stop, now)])
            for chunk in _chunks(later, D1_MAX_PARAMS // 6)]


def _delete_tag_statements(hashes: Sequence[str]) -> list[tuple[str, list[Any]]]:
    return [("DELETE FROM memory_tags WHERE memory_id IN (SELECT id FROM memories WHERE content_hash IN "
             f"({_marks(chunk)}))", list(chunk)) for chunk in _chunks(hashes, D1_MAX_PARAMS)]


def _delete_row_statements(hashes: Sequence[str]) -> list[tuple[str, list[Any]]]:
    return [(f"DELETE FROM memories WHERE content_hash IN ({_marks(chunk)})", list(chunk))
            for chunk in _chunks(hashes, D1_MAX_PARAMS)]


def _log_statements(hashes: Sequence[str]) -> list[tuple[str, list[Any]]]:
    now = time.time()
    return [("INSERT INTO change_log (content_hash, changed_at) VALUES " + ", ".join(["(?, ?)"] * len(chunk)),
             [p for h in chunk for p in (h, now)]) for chunk in _chunks(hashes, D1_MAX_PARAMS // 2)]


def _chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def _marks(items: Sequence[Any]) -> str:
    return ",".join("?" * len(items))
