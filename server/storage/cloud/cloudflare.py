"""The cloudflare backend: the MemoryStorage face of the Cloudflare replica (server/storage/cloud/replica.py).

Every call goes to the replica. Errors are translated once, at this boundary: each public method names what
it was doing, and a CloudflareError raised anywhere inside it becomes one StorageError saying so and what to
do (the way httpx maps its transport's exceptions in one place). Searches read Vectorize, merge in this process's own writes that Vectorize does not serve yet, and
read the rows from D1; similarity uses the local backend's scale (cosine clipped to 0..1).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from functools import wraps
from typing import Any, Callable, TypeVar

import numpy as np

from server.cloudflare.client import CloudflareClient
from server.cloudflare.errors import CloudflareError
from server.cloudflare.facts import MODEL_DIMENSIONS
from server.errors import StorageError
from server.record import Memory, MetadataChange, UnreadableRecord, changed
from server.record.status import EmbeddingStatus, Health, HealthDetails, VectorizeStatus
from server.storage.base import MemoryFilter, ScoredMemory, Why
from server.storage.cloud.replica import _ID_BATCH, CloudReplica, _memory
from server.storage.rows import COLUMNS, filter_sql, readable
from server.storage.cloud.unindexed import UnindexedVectors
from server.search import fusion
from server.storage import stats
from server.search.lexical import any_of, fts_query, identifiers, terms, words_in_texts

logger = logging.getLogger(__name__)

ORPHAN_WINDOW = 7 * 86_400.0  # at start, the vectors of this long's deletes are removed again
EXACT_RESCORE_LIMIT = 1000  # filtered searches score up to this many vectors exactly (no short pages)
# Vectors asked of Vectorize (its most without values or metadata): a long memory has a vector per part, so
# the top n vectors may be fewer than n memories.
VECTOR_TOP_K = 100
WORD_COUNT_LIMIT = 500  # a question word's memories are counted up to this many (D1 bills each row a count visits)
CANDIDATES, _CANDIDATES_MAX = 50, 100  # per kind for hybrid; D1 binds at most 100 parameters per query


_Method = TypeVar("_Method", bound=Callable[..., Any])


def at_boundary(doing: str, advice: str = "Try again shortly.") -> Callable[[_Method], _Method]:
    """The one translation of the cloud's errors: a CloudflareError inside the method -> StorageError."""
    def decorate(method: _Method) -> _Method:
        @wraps(method)
        def translated(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except CloudflareError as exc:
                raise StorageError(f"Cloudflare failed while {doing}: {exc}. {advice}") from exc
        return translated  # type: ignore[return-value]
    return decorate


class CloudflareStorage:
    backend_name = "cloudflare"

    def __init__(self, client: CloudflareClient, database_id: str, index: str, model: str,
                 shared_settings: dict[str, str] | None = None) -> None:
        self.replica = CloudReplica(client, database_id, index, model, shared_settings)
        self.client, self.database_id, self.index, self.model = client, database_id, index, model
        self._owed_vectors: set[str] = set()  # deleted memories whose vectors are still to be removed

    @property
    def unindexed(self) -> UnindexedVectors:
        return self.replica.unindexed

    def open(self) -> None:
        self.replica.open()

    def warm_up(self) -> None:
        """Nothing to load (the model and the index live in Cloudflare). Vectors an earlier process owed (its
        vector delete failed after the rows went, and it stopped before trying again) are removed now: those of
        the last week's deletes, which Vectorize deletes again harmlessly when they are gone already."""
        try:
            self._owed_vectors.update(self.replica.buried_since(time.time() - ORPHAN_WINDOW))
        except CloudflareError as exc:
            logger.warning("Could not read the week's deletes to remove their vectors: %s", exc)
            return
        self._pay_vectors()

    def close(self) -> None:
        self.replica.close()

    def _sql(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.replica.sql(sql, params)

    def _embed(self, texts: list[str]) -> list[list[float]]:
        return self.client.embed(self.model, texts)

    @at_boundary("storing the memory", "Nothing was kept; try again.")
    def store(self, memory: Memory) -> tuple[Memory, bool]:
        self._pay_vectors()
        existing = self._get(memory.content_hash)
        if existing is not None:
            return existing, False
        created = self.replica.put_new([memory])
        if not created:  # stored meanwhile by another device or process
            return self._get(memory.content_hash) or memory, False
        return memory, True

    @at_boundary("updating the memory")
    def update_metadata(self, content_hash: str, change: MetadataChange, now: float) -> Memory | None:
        current = self._get(content_hash)
        if current is None:
            return None
        updated = changed(current, change, now)
        self.replica.put_metadata([updated])
        return self._get(content_hash)

    @at_boundary("deleting the memory")
    def delete(self, content_hash: str) -> bool:
        try:
            existing = self._get(content_hash)
        except UnreadableRecord:  # a record that cannot be shown can still be deleted
            return bool(self._bury({content_hash: time.time()}))
        if existing is None:
            return False
        if existing.is_probe:  # never in the change log: forget it without a tombstone
            return bool(self.replica.forget([content_hash]))
        return bool(self._bury({content_hash: time.time()}))

    @at_boundary("deleting memories")
    def delete_where(self, where: MemoryFilter) -> Sequence[str]:
        if where.is_empty:
            raise StorageError("Refusing to delete every memory: give at least one filter.")
        clause, params = filter_sql(where)
        rows = self._sql(f"SELECT content_hash FROM memories m WHERE {clause}", params)
        now = time.time()
        return self._bury({r["content_hash"]: now for r in rows})

    def _bury(self, deleted: dict[str, float]) -> list[str]:
        """Delete: the rows first (one D1 transaction; from then on the memory is gone and never found), then
        the vectors. A vector delete that fails does not undo or hide the delete: those vectors are owed, and
        removed with the next change this process makes, or at the next start (the week's tombstones)."""
        found = self.replica.bury_rows(deleted)
        self._owed_vectors.update(deleted)
        self._pay_vectors()
        return found

    def _pay_vectors(self) -> None:
        if not self._owed_vectors:
            return
        owed = sorted(self._owed_vectors)
        try:
            self.replica.delete_vectors_of(owed)
        except CloudflareError as exc:
            logger.warning("Removing the vectors of %d deleted memory(ies) failed (%s); tried again with the next "
                           "change", len(owed), exc)
            return
        self._owed_vectors.difference_update(owed)

    @at_boundary("reading which memories it has")
    def known(self, hashes: Sequence[str]) -> tuple[set[str], dict[str, float]]:
        present = set(self.replica.existing(hashes))
        return present, self.replica.tombstones(hashes)

    @at_boundary("importing memories", "The batch was not kept; run the import again (it skips what is there).")
    def import_batch(self, memories: Sequence[Memory]) -> int:
        return len(self.replica.put_new(list(memories)))

    @at_boundary("reading the memory")
    def get(self, content_hash: str) -> Memory | None:
        return self._get(content_hash)

    def _get(self, content_hash: str) -> Memory | None:
        rows = self._sql(f"SELECT id, {COLUMNS} FROM memories WHERE content_hash = ?",
                          [content_hash])
        return _memory(rows[0]) if rows else None

    @at_boundary("listing memories")
    def page(self, where: MemoryFilter, offset: int, limit: int) -> tuple[list[Memory], int]:
        clause, params = filter_sql(where)
        total = self._sql(f"SELECT count(*) AS n FROM memories m WHERE {clause}", params)[0]["n"]
        rows = self._sql(f"SELECT id, {COLUMNS} FROM memories m WHERE {clause} "
                          "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?", [*params, limit, offset])
        return list(readable(rows, _memory)), total

    @at_boundary("searching")
    def search(self, query: str, n_results: int, where: MemoryFilter, min_similarity: float = 0.0,
               mode: str = "hybrid") -> list[ScoredMemory]:
        """The same modes as the local backend: Vectorize for meaning, FTS5 in D1 for words, fused."""
        k = min(_CANDIDATES_MAX, max(CANDIDATES, 2 * n_results))
        if mode == "lexical":
            lexical = self._lexical(query, k, where)
            top = max(lexical.values(), default=1.0)
            scored = [(h, s / top, Why(0.0, s / top, 1.0, 0.0)) for h, s in
                      sorted(lexical.items(), key=lambda pair: -pair[1])]
        else:
            vector = self._embed([query])[0]
            dense = self._semantic(vector, n_results if mode == "semantic" else k, where)
            scored = [(h, s, Why(s, 0.0, 0.0, 0.0)) for h, s in dense]
            if mode == "hybrid":
                scored = self._fused(query, vector, dict(dense), k, where)
        scored = [(h, min(1.0, max(0.0, s)), why) for h, s, why in scored]
        scored = [hit for hit in scored if hit[1] >= min_similarity][:n_results]
        memories = self._by_hash([h for h, _, _ in scored])
        return [ScoredMemory(memories[h], round(s, 6), why) for h, s, why in scored if h in memories]

    @at_boundary("counting memories")
    def stats(self) -> dict[str, Any]:
        def rows(sql: str, params: list[Any]) -> list[tuple[Any, Any]]:
            return [tuple(r.values()) for r in self._sql(sql, params)]

        return stats.stats(rows)

    def _semantic(self, vector: list[float], n: int, where: MemoryFilter) -> list[tuple[str, float]]:
        allowed: set[str] | None = None
        if where.is_empty:
            matches = self.client.query(self.index, vector, VECTOR_TOP_K, "none")
            scored = self._by_memory([(m["id"], float(m["score"])) for m in matches])[:n]
        else:
            scored, allowed = self._filtered(vector, n, where)
        return self._with_unindexed(scored, vector, allowed)

    def _by_memory(self, matches: list[tuple[str, float]]) -> list[tuple[str, float]]:
        """Vector matches -> each memory's best, best first: a long memory scores by its best part."""
        owners = self.replica.owners([v for v, _ in matches])
        best: dict[str, float] = {}
        for vector_id, score in matches:
            if vector_id in owners:
                best[owners[vector_id]] = max(score, best.get(owners[vector_id], -1.0))
        return sorted(best.items(), key=lambda pair: -pair[1])

    def _similarities(self, hashes: list[str], vector: list[float],
                      owners: dict[str, str] | None = None) -> dict[str, float]:
        """These memories' similarity to the query, read from their stored vectors (every part's)."""
        owners = owners or self._vector_ids(hashes)
        found: list[dict[str, Any]] = []
        ids = list(owners)
        for start in range(0, len(ids), _ID_BATCH):
            found += self.client.get_by_ids(self.index, ids[start:start + _ID_BATCH])
        best: dict[str, float] = {}
        for v in found:
            owner = owners[v["id"]]
            best[owner] = max(_cosine(v["values"], vector), best.get(owner, -1.0))
        return best

    def _lexical(self, query: str, k: int, where: MemoryFilter) -> dict[str, float]:
        """BM25 relevance of D1's best lexical matches (FTS5, kept in step by triggers: migration 0004)."""
        return self._lexical_side(query, k, where)[0]

    def _lexical_side(self, query: str, k: int, where: MemoryFilter) -> tuple[dict[str, float], list[str], list[float]]:
        """D1's best lexical matches with their BM25, the question's words and their IDF, in one request. Each
        word's count stops at WORD_COUNT_LIMIT (D1 bills the rows a count visits): a word more common than that
        weighs as if it were in that many memories."""
        match, words = fts_query(query), terms(query)
        if match is None:
            return {}, words, []
        clause, params = filter_sql(where)
        statements: list[tuple[str, list[Any]]] = [
            ("SELECT m.content_hash AS h, -bm25(memory_text, 1.0, 0.5) AS relevance FROM memory_text "
             f"JOIN memories m ON m.id = memory_text.rowid WHERE memory_text MATCH ? AND {clause} "
             "ORDER BY relevance DESC LIMIT ?", [match, *params, k]),
            ("SELECT coalesce(max(id), 0) AS n FROM memories", []),  # about how many: no count(*) scan
            *[("SELECT count(*) AS n FROM (SELECT rowid FROM memory_text WHERE memory_text MATCH ? LIMIT ?)",
               [any_of([word]), WORD_COUNT_LIMIT]) for word in words]]
        results = self.client.d1_batch(self.database_id, statements)
        total = max(1, int(results[1][0]["n"]))
        weights = [max(1e-6, math.log((total - int(r[0]["n"]) + 0.5) / (int(r[0]["n"]) + 0.5))) for r in results[2:]]
        return {r["h"]: float(r["relevance"]) for r in results[0]}, words, weights

    def _fused(self, query: str, vector: list[float], dense: dict[str, float], k: int,
               where: MemoryFilter) -> list[tuple[str, float, Why]]:
        lexical, words, weights = self._lexical_side(query, k, where)
        dense.update(self._similarities([h for h in lexical if h not in dense], vector))
        rows = self._by_hash(list(dict.fromkeys([*lexical, *list(dense)[:_CANDIDATES_MAX]])))
        held = words_in_texts(words, {h: m.content for h, m in rows.items() if h in lexical})
        needed = identifiers(query)
        exact = [h for h, m in rows.items() if needed and all(w in m.content.lower() for w in needed)]
        return fusion.fuse(dense, lexical, held, weights, words, exact)

    def _with_unindexed(self, scored: list[tuple[str, float]], vector: list[float],
                        allowed: set[str] | None) -> list[tuple[str, float]]:
        """The index's answer plus our own recent writes it does not serve yet, best first."""
        if not self.unindexed:
            return scored
        info = self.client.index_info(self.index)
        self.unindexed.settle(info.get("processedUpToMutation"))
        best = dict(scored)
        for content_hash, score in self.unindexed.score(vector, allowed).items():
            best[content_hash] = max(score, best.get(content_hash, -1.0))
        return sorted(best.items(), key=lambda pair: -pair[1])

    def _filtered(self, vector: list[float], n: int, where: MemoryFilter) -> tuple[list[tuple[str, float]], set[str]]:
        clause, params = filter_sql(where)
        rows = self._sql(f"SELECT content_hash FROM memories m WHERE {clause} LIMIT ?",
                          [*params, EXACT_RESCORE_LIMIT + 1])
        candidates = [r["content_hash"] for r in rows]
        if not candidates:
            return [], set()
        if len(candidates) <= EXACT_RESCORE_LIMIT:  # score every candidate exactly: no short pages
            owners = self._vector_ids(candidates)
            if len(owners) > EXACT_RESCORE_LIMIT:  # long memories with many parts: each by its first part
                owners = {h: h for h in candidates}
            scores = self._similarities(candidates, vector, owners)
            return sorted(scores.items(), key=lambda pair: -pair[1])[:n], set(candidates)
        allowed = set(candidates)  # many candidates: the index's top vectors, filtered
        matches = self.client.query(self.index, vector, VECTOR_TOP_K, "none")
        best = self._by_memory([(m["id"], float(m["score"])) for m in matches])
        return [(h, s) for h, s in best if h in allowed][:n], allowed

    def _vector_ids(self, hashes: list[str]) -> dict[str, str]:
        """Every vector id of these memories (their own, and their parts') -> the memory's hash."""
        owners = {h: h for h in hashes}
        owners.update(self.replica.part_ids(hashes))
        return owners

    def _by_hash(self, hashes: list[str]) -> dict[str, Memory]:
        found: dict[str, Memory] = {}
        for start in range(0, len(hashes), _ID_BATCH):  # D1 binds at most 100 parameters
            chunk = hashes[start:start + _ID_BATCH]
            rows = self._sql(f"SELECT id, {COLUMNS} FROM memories WHERE content_hash IN "
                              f"({','.join('?' * len(chunk))})", chunk)
            found.update(readable(rows, lambda r: (r["content_hash"], _memory(r))))
        return found

    @at_boundary("reading its health")
    def health(self) -> Health:
        total = self._sql("SELECT count(*) AS n FROM memories")[0]["n"]
        tags = self._sql("SELECT count(DISTINCT tag) AS n FROM memory_tags")[0]["n"]
        database = self.client.d1_get(self.database_id)
        info = self.client.index_info(self.index)
        migrations = [r["name"] for r in self._sql("SELECT name FROM schema_migrations ORDER BY name")]
        return Health(
            backend=self.backend_name, total_memories=total, database_size_bytes=int(database.get("file_size") or 0),
            embedding=EmbeddingStatus(engine="workers-ai", model=self.model, dimension=MODEL_DIMENSIONS.get(self.model)),
            details=HealthDetails(unique_tags=tags, d1_database_id=self.database_id, migrations=migrations,
                                  vectorize_index=VectorizeStatus(name=self.index, vectors=info.get("vectorCount"),
                                                                  dimensions=info.get("dimensions"))),
        )


def _cosine(values: Sequence[float], query: Sequence[float]) -> float:
    a, b = np.asarray(values, dtype=np.float32), np.asarray(query, dtype=np.float32)
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) or 1.0))
