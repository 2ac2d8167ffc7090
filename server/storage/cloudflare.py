"""The cloudflare backend: memories in D1, vectors in Vectorize (id = content hash), embeddings by Workers AI.

Write order keeps D1 honest: a store upserts the vector first and inserts the row after, deleting the vector
again if the row fails; a delete removes the row first. So a D1 row never points at a missing vector, and a
vector left without a row (a crash between the two calls) is never returned, because search reads rows.
Similarity uses the local backend's scale: cosine clipped to 0..1.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from server.cloudflare.client import CloudflareClient
from server.cloudflare.errors import CloudflareError
from server.errors import StorageError
from server.storage.base import Memory, MemoryFilter, MetadataChange, ScoredMemory
from server.storage.rows import (
    COLUMN_NAMES, COLUMNS, UPDATE_SQL, filter_sql, memory_params, row_to_memory, update_params,
)

MODEL_DIMENSIONS = {"@cf/baai/bge-small-en-v1.5": 384, "@cf/baai/bge-base-en-v1.5": 768,
                    "@cf/baai/bge-large-en-v1.5": 1024}
# Named migrations, recorded in D1. Each statement is idempotent (IF NOT EXISTS): D1's REST API has no
# open transaction to hold the record and the change together, so a crash part-way is made safe to re-run.
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS memories (id INTEGER PRIMARY KEY AUTOINCREMENT, content_hash TEXT NOT NULL UNIQUE, "
    "content TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '[]', memory_type TEXT, metadata TEXT NOT NULL DEFAULT '{}', "
    "created_at REAL NOT NULL, created_at_iso TEXT NOT NULL, updated_at REAL NOT NULL, updated_at_iso TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS memories_by_created ON memories(created_at)",
    "CREATE TABLE IF NOT EXISTS memory_tags (tag TEXT NOT NULL, memory_id INTEGER NOT NULL, PRIMARY KEY (tag, memory_id))",
    "CREATE INDEX IF NOT EXISTS memory_tags_by_memory ON memory_tags(memory_id)",
)
MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (("0001_memories", SCHEMA),)
EXACT_RESCORE_LIMIT = 1000  # filtered searches score up to this many candidates exactly (no short pages)
_ID_BATCH = 100


class CloudflareStorage:
    backend_name = "cloudflare"

    def __init__(self, client: CloudflareClient, database_id: str, index: str, model: str) -> None:
        self.client, self.database_id, self.index, self.model = client, database_id, index, model

    def open(self) -> None:
        expected = MODEL_DIMENSIONS.get(self.model)
        try:
            config = self.client.index_get(self.index).get("config", {})
            if expected is None or config.get("dimensions") != expected:
                raise StorageError(
                    f"The Vectorize index {self.index!r} has {config.get('dimensions')} dimensions but the embedding "
                    f"model {self.model} makes {expected}. Use an index created for this model (install.py "
                    "--create-cloudflare-resources with a new CLOUDFLARE_VECTORIZE_INDEX) or change "
                    "CLOUDFLARE_EMBEDDING_MODEL.")
            self._migrate()
        except CloudflareError as exc:
            raise StorageError(f"Cannot open the Cloudflare storage: {exc}. Run `install.py doctor`.") from exc

    def _migrate(self) -> None:
        self._sql("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
        applied = {row["name"] for row in self._sql("SELECT name FROM schema_migrations")}
        for name, statements in MIGRATIONS:
            if name in applied:
                continue
            for statement in statements:
                self._sql(statement)
            self._sql("INSERT OR IGNORE INTO schema_migrations (name, applied_at) VALUES (?, ?)", [name, time.time()])

    def warm_up(self) -> None:
        """Nothing to load: the model and the index live in Cloudflare."""

    def close(self) -> None:
        self.client.close()

    def _sql(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.client.d1_query(self.database_id, sql, list(params))

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except CloudflareError as exc:
            raise StorageError(f"Cloudflare {what} failed: {exc}. Try again shortly.") from exc

    def _embed(self, texts: list[str]) -> list[list[float]]:
        return self._call("embedding", self.client.embed, self.model, texts)

    # -- writes ------------------------------------------------------------------------------------

    def store(self, memory: Memory) -> tuple[Memory, bool]:
        existing = self.get(memory.content_hash)
        if existing is not None:
            return existing, False
        vector = self._embed([memory.content])[0]
        metadata = {"content_hash": memory.content_hash, "created_at": memory.created_at}
        self._call("vector upsert", self.client.upsert, self.index,
                   [{"id": memory.content_hash, "values": vector, "metadata": metadata}])
        try:
            self._sql(f"INSERT INTO memories ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", memory_params(memory))
            row = self._sql("SELECT id FROM memories WHERE content_hash = ?", [memory.content_hash])
            self._write_tags(row[0]["id"], memory.tags)
        except CloudflareError as exc:
            if exc.has_code(7500) and "UNIQUE" in str(exc):  # stored meanwhile by another device or process
                return self.get(memory.content_hash) or memory, False
            self._call("vector cleanup", self.client.delete_by_ids, self.index, [memory.content_hash])
            raise StorageError(f"Cloudflare D1 refused the memory: {exc}. Nothing was kept; try again.") from exc
        return memory, True

    def _write_tags(self, memory_id: int, tags: Sequence[str]) -> None:
        if tags:
            values = ", ".join("(?, ?)" for _ in tags)
            self._sql(f"INSERT OR IGNORE INTO memory_tags (tag, memory_id) VALUES {values}",
                      [v for tag in tags for v in (tag, memory_id)])

    def update_metadata(self, content_hash: str, change: MetadataChange, now: float) -> Memory | None:
        rows = self._call("D1 read", self._sql, f"SELECT id, {COLUMNS} FROM memories WHERE content_hash = ?",
                          [content_hash])
        if not rows:
            return None
        memory_id = rows[0]["id"]
        self._call("D1 update", self._sql, UPDATE_SQL, update_params(_memory(rows[0]), change, now, memory_id))
        if change.tags is not None:
            self._call("D1 update", self._sql, "DELETE FROM memory_tags WHERE memory_id = ?", [memory_id])
            self._call("D1 update", self._write_tags, memory_id, change.tags)
        return self.get(content_hash)

    def delete(self, content_hash: str) -> bool:
        return bool(self._delete_hashes([content_hash]))

    def delete_where(self, where: MemoryFilter) -> Sequence[str]:
        if where.is_empty:
            raise StorageError("Refusing to delete every memory: give at least one filter.")
        clause, params = filter_sql(where)
        rows = self._call("D1 read", self._sql, f"SELECT content_hash FROM memories m WHERE {clause}", params)
        return self._delete_hashes([r["content_hash"] for r in rows])

    def _delete_hashes(self, hashes: list[str]) -> list[str]:
        deleted = []
        for start in range(0, len(hashes), 50):
            chunk = hashes[start:start + 50]
            marks = ",".join("?" * len(chunk))
            rows = self._call("D1 read", self._sql, f"SELECT id, content_hash FROM memories WHERE content_hash IN ({marks})",
                              chunk)
            if not rows:
                continue
            ids = [r["id"] for r in rows]
            id_marks = ",".join("?" * len(ids))
            self._call("D1 delete", self._sql, f"DELETE FROM memory_tags WHERE memory_id IN ({id_marks})", ids)
            self._call("D1 delete", self._sql, f"DELETE FROM memories WHERE id IN ({id_marks})", ids)
            found = [r["content_hash"] for r in rows]
            self._call("vector delete", self.client.delete_by_ids, self.index, found)
            deleted += found
        return deleted

    # -- reads -------------------------------------------------------------------------------------

    def get(self, content_hash: str) -> Memory | None:
        rows = self._call("D1 read", self._sql, f"SELECT id, {COLUMNS} FROM memories WHERE content_hash = ?",
                          [content_hash])
        return _memory(rows[0]) if rows else None

    def list(self, where: MemoryFilter, offset: int, limit: int) -> tuple[list[Memory], int]:
        clause, params = filter_sql(where)
        total = self._call("D1 read", self._sql, f"SELECT count(*) AS n FROM memories m WHERE {clause}", params)[0]["n"]
        rows = self._call("D1 read", self._sql, f"SELECT id, {COLUMNS} FROM memories m WHERE {clause} "
                          "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?", [*params, limit, offset])
        return [_memory(r) for r in rows], total

    def search(self, query: str, n_results: int, where: MemoryFilter, min_similarity: float = 0.0) -> list[ScoredMemory]:
        vector = self._embed([query])[0]
        if where.is_empty:
            matches = self._call("vector query", self.client.query, self.index, vector, min(100, n_results), "none")
            scored = [(m["id"], float(m["score"])) for m in matches]
        else:
            scored = self._filtered(vector, n_results, where)
        scored = [(h, min(1.0, max(0.0, s))) for h, s in scored]
        scored = [(h, s) for h, s in scored if s >= min_similarity][:n_results]
        memories = self._by_hash([h for h, _ in scored])
        return [ScoredMemory(memories[h], round(s, 6)) for h, s in scored if h in memories]

    def _filtered(self, vector: list[float], n: int, where: MemoryFilter) -> list[tuple[str, float]]:
        clause, params = filter_sql(where)
        rows = self._call("D1 read", self._sql, f"SELECT content_hash FROM memories m WHERE {clause} LIMIT ?",
                          [*params, EXACT_RESCORE_LIMIT + 1])
        candidates = [r["content_hash"] for r in rows]
        if len(candidates) <= EXACT_RESCORE_LIMIT:  # score every candidate exactly: no short pages
            found = []
            for start in range(0, len(candidates), _ID_BATCH):
                found += self._call("vector read", self.client.get_by_ids, self.index, candidates[start:start + _ID_BATCH])
            query = np.asarray(vector)
            scores = [(v["id"], float(np.dot(v["values"], query) / (np.linalg.norm(v["values"]) * np.linalg.norm(query))))
                      for v in found]
            return sorted(scores, key=lambda pair: -pair[1])[:n]
        allowed = set(candidates)  # many candidates: the index's top 100, filtered
        matches = self._call("vector query", self.client.query, self.index, vector, 100, "none")
        return [(m["id"], float(m["score"])) for m in matches if m["id"] in allowed][:n]

    def _by_hash(self, hashes: list[str]) -> dict[str, Memory]:
        if not hashes:
            return {}
        marks = ",".join("?" * len(hashes))
        rows = self._call("D1 read", self._sql, f"SELECT id, {COLUMNS} FROM memories WHERE content_hash IN ({marks})",
                          hashes)
        return {r["content_hash"]: _memory(r) for r in rows}

    def health(self) -> dict[str, Any]:
        total = self._call("D1 read", self._sql, "SELECT count(*) AS n FROM memories")[0]["n"]
        tags = self._call("D1 read", self._sql, "SELECT count(DISTINCT tag) AS n FROM memory_tags")[0]["n"]
        database = self._call("D1 read", self.client.d1_get, self.database_id)
        info = self._call("vector info", self.client.index_info, self.index)
        return {
            "backend": self.backend_name,
            "total_memories": total,
            "unique_tags": tags,
            "database_size_bytes": int(database.get("file_size") or 0),
            "d1_database_id": self.database_id,
            "vectorize_index": {"name": self.index, "vectors": info.get("vectorCount"),
                                "dimensions": info.get("dimensions")},
            "embedding": {"engine": "workers-ai", "model": self.model, "dimension": MODEL_DIMENSIONS.get(self.model),
                          "ready": True},
            "pragmas": {},
            "migrations": [r["name"] for r in self._call("D1 read", self._sql,
                                                          "SELECT name FROM schema_migrations ORDER BY name")],
        }


def _memory(row: dict[str, Any]) -> Memory:
    return row_to_memory([row[name] for name in COLUMN_NAMES])
