"""MemoryService: validates and normalises what callers send, then asks the storage backend.

Everything a tool needs goes through here, so every backend gets the same rules: content hash
definition, tag normalisation, the content length limit, bounds on counts. Input errors raise
`InvalidInputError` with a message that says what to fix; nothing is written when input is bad.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from server import graph, record
from server.record.status import Health, SyncReport, SyncStatus
from server.search import DEFAULT_MODE, ranked
from server.search import SEARCH_MODES as RANKINGS
from server.errors import InvalidInputError, NotFoundError
from server.record import ASSOCIATION_TYPE, SUMMARY_TYPE, Memory, MetadataChange, iso_utc
from server.storage.base import GraphStore, MemoryFilter, MemoryStorage, ScoredMemory, Syncing

MAX_RESULTS = 100
MAX_PAGE_SIZE = 100
MAX_HOPS = 10

# The record's rules live in server/record.py; these names stay importable from here.
content_hash = record.content_hash
normalise_tags = record.check_tags


@dataclass(frozen=True)
class RecallResult:
    start_iso: str
    end_iso: str
    expression: str
    semantic_query: str
    memories: list[ScoredMemory]


class MemoryService:
    def __init__(self, storage: MemoryStorage, max_content_length: int) -> None:
        self.storage = storage
        self.max_content_length = max_content_length

    def store(self, content: str, tags: str | Sequence[str] | None = None, memory_type: str | None = None,
              metadata: Mapping[str, Any] | None = None) -> tuple[Memory, bool]:
        text = record.check_content(content, self.max_content_length)
        now = time.time()
        memory = Memory(
            content=text,
            content_hash=content_hash(text),
            tags=normalise_tags(tags),
            memory_type=record.check_type(memory_type),
            metadata=record.check_metadata(metadata),
            created_at=now,
            created_at_iso=iso_utc(now),
            updated_at=now,
            updated_at_iso=iso_utc(now),
        )
        return self.storage.store(memory)

    def retrieve(self, query: str, n_results: int = 5, tags: str | Sequence[str] | None = None,
                 min_similarity: float = 0.0, mode: str = DEFAULT_MODE) -> list[ScoredMemory]:
        text = self._query(query)
        if not 0.0 <= min_similarity <= 1.0:
            raise InvalidInputError(f"min_similarity must be between 0 and 1; got {min_similarity}.")
        where = MemoryFilter(tags=normalise_tags(tags))
        return self.storage.search(text, _bounded("n_results", n_results, MAX_RESULTS), where, min_similarity,
                                   _ranking(mode))

    def recall(self, query: str, n_results: int = 5, now: datetime | None = None,
               mode: str = DEFAULT_MODE) -> RecallResult:
        text = self._query(query)
        mode = _ranking(mode)
        # Imported here: the parser compiles its pattern table (~70 ms), which start-up need not pay.
        from server.timeparse import parse_recall_query

        parsed = parse_recall_query(text, now or datetime.now().astimezone())
        span = parsed.time_range
        where = MemoryFilter(start=span.start.timestamp(), end=span.end.timestamp())
        limit = _bounded("n_results", n_results, MAX_RESULTS)
        if parsed.semantic_query:
            found = self.storage.search(parsed.semantic_query, limit, where, 0.0, mode)
        else:
            newest, _ = self.storage.page(where, 0, limit)
            found = [ScoredMemory(memory, 1.0) for memory in newest]
        return RecallResult(span.start.isoformat(), span.end.isoformat(), span.expression, parsed.semantic_query, found)

    def search(self, query: str | None = None, limit: int = 10, tags: str | Sequence[str] | None = None,
               tag_match: str = "any", time_expr: str | None = None, after: str | None = None,
               before: str | None = None, mode: str = DEFAULT_MODE, memory_type: str | None = None,
               now: datetime | None = None, ranking_weights: Mapping[str, float] | None = None,
               where: MemoryFilter | None = None) -> list[ScoredMemory]:
        """One search with every filter applied inside the query (no short pages): by meaning, or by exact
        text (`mode="exact"`), or relevance blended with recency (`mode="ranked"`), or newest first when there
        is no query. `where`, when given, replaces the filter the other parameters describe."""
        if mode not in SEARCH_MODES:
            raise InvalidInputError(f"mode must be one of {', '.join(SEARCH_MODES)}; got {mode!r}.")
        if where is None:
            where = self.filter(tags, tag_match, time_expr, after, before, memory_type, now)
        size = _bounded("limit", limit, MAX_RESULTS)
        text = self._query(query) if isinstance(query, str) and record.visible(query) else ""
        if text and mode == "exact":
            where = MemoryFilter(**{**where.__dict__, "contains": text})
        if text and mode == "ranked":
            blend = ranked.weights(ranking_weights)  # checked before the search runs
            pool = self.storage.search(text, min(MAX_RESULTS, max(3 * size, 30)), where, 0.0, DEFAULT_MODE)
            return ranked.rerank(pool, blend, (now or datetime.now().astimezone()).timestamp(), size)
        if text and mode != "exact":
            return self.storage.search(text, size, where, 0.0, mode)
        newest, _ = self.storage.page(where, 0, size)
        return [ScoredMemory(memory, 1.0) for memory in newest]

    def filter(self, tags: str | Sequence[str] | None = None, tag_match: str = "any", time_expr: str | None = None,
               after: str | None = None, before: str | None = None, memory_type: str | None = None,
               now: datetime | None = None) -> MemoryFilter:
        """A filter from the unified tools' parameters; dates are YYYY-MM-DD in local time."""
        if tag_match not in ("any", "all"):
            raise InvalidInputError(f"tag_match must be any or all; got {tag_match!r}.")
        start = end = None
        if time_expr and time_expr.strip():
            from server.timeparse import parse_time_expression

            span = parse_time_expression(time_expr.strip(), now or datetime.now().astimezone())
            start, end = span.start.timestamp(), span.end.timestamp()
        if after:
            start = max(start or float("-inf"), _day("after", after))
        if before:
            end = min(end or float("inf"), _day("before", before))
        return MemoryFilter(tags=normalise_tags(tags), match_all=tag_match == "all",
                            memory_type=record.check_type(memory_type), start=start, end=end)

    def delete_where(self, where: MemoryFilter, dry_run: bool = False) -> Sequence[str]:
        """Delete (or with dry_run, list) every memory that passes a non-empty filter."""
        if where.is_empty:
            raise InvalidInputError("Give content_hash, or at least one of tags, after, before to delete by.")
        if dry_run:
            return [m.content_hash for m in self.storage.page(where, 0, MAX_PAGE_SIZE * 100)[0]]
        return self.storage.delete_where(where)

    def search_by_tag(self, tags: str | Sequence[str], match_all: bool = False, limit: int = 50) -> list[Memory]:
        where = MemoryFilter(tags=self._required_tags(tags), match_all=match_all)
        return self.storage.page(where, 0, _bounded("limit", limit, MAX_PAGE_SIZE * 10))[0]

    def list_memories(self, page: int = 1, page_size: int = 10, tag: str | None = None,
             memory_type: str | None = None) -> tuple[list[Memory], int]:
        if page < 1:
            raise InvalidInputError(f"page starts at 1; got {page}.")
        size = _bounded("page_size", page_size, MAX_PAGE_SIZE)
        where = MemoryFilter(tags=normalise_tags(tag), memory_type=record.check_type(memory_type))
        return self.storage.page(where, (page - 1) * size, size)

    def page(self, where: MemoryFilter, page: int = 1, page_size: int = 20) -> tuple[list[Memory], int]:
        if page < 1:
            raise InvalidInputError(f"page starts at 1; got {page}.")
        size = _bounded("page_size", page_size, MAX_PAGE_SIZE)
        return self.storage.page(where, (page - 1) * size, size)

    def get(self, hash_: str) -> Memory:
        memory = self.storage.get(_hash(hash_))
        if memory is None:
            raise _not_found(hash_)
        return memory

    def update_metadata(self, hash_: str, tags: str | Sequence[str] | None = None, memory_type: str | None = None,
                        metadata: Mapping[str, Any] | None = None) -> Memory:
        if tags is None and memory_type is None and metadata is None:
            raise InvalidInputError("Nothing to update: give tags, memory_type or metadata.")
        change = MetadataChange(
            tags=None if tags is None else normalise_tags(tags),
            # An empty type clears it ("" reaches the storage as "clear"), rather than silently changing nothing.
            memory_type=None if memory_type is None else (record.check_type(memory_type) or ""),
            metadata=None if metadata is None else record.check_metadata(metadata, allow_null=True),
        )
        if change.metadata:
            self._check_merged_metadata(_hash(hash_), change.metadata)
        updated = self.storage.update_metadata(_hash(hash_), change, time.time())
        if updated is None:
            raise _not_found(hash_)
        return updated

    def replace_content(self, hash_: str, content: str) -> Memory:
        """New text for a memory. A memory is its text (its content hash, as the tools define it), so the new
        text is a new memory that keeps the old one's created time, tags, type, metadata and associations; the
        old one is deleted (and syncs as a delete). Returns the new memory."""
        old = self.get(hash_)
        text = record.check_content(content, self.max_content_length)
        new_hash = content_hash(text)
        if new_hash == old.content_hash:
            return old
        if self.storage.get(new_hash) is not None:
            raise InvalidInputError(f"Another memory ({new_hash[:12]}…) already has this text; nothing was changed.")
        now = time.time()
        memory, _ = self.storage.store(replace(old, content=text, content_hash=new_hash, updated_at=now,
                                               updated_at_iso=iso_utc(now)))
        for neighbour, link in self._associations_of(old.content_hash):
            fields = graph.association_memory_fields(new_hash, neighbour, float(link.metadata.get("similarity", 0.0)),
                                                     link.metadata.get("connection_types") or ("semantic",))
            self.store(*fields[:2], ASSOCIATION_TYPE, fields[2])
            self.storage.delete(link.content_hash)
        self.storage.delete(old.content_hash)
        return memory

    def _associations_of(self, hash_: str) -> list[tuple[str, Memory]]:
        """(neighbour, association memory) for each association of this memory; none without a graph."""
        if not isinstance(self.storage, GraphStore):
            return []
        found = []
        for neighbour, _ in self.storage.graph.connected(hash_, 1):
            link = self.storage.get(content_hash(graph.association_memory_fields(hash_, neighbour, 0.0)[0]))
            if link is not None:
                found.append((neighbour, link))
        return found

    def _check_merged_metadata(self, hash_: str, change: Mapping[str, Any]) -> None:
        """The limit holds for the metadata as stored after the merge, not for each update alone."""
        current = self.storage.get(hash_)
        if current is None:
            return  # reported as not found by the update itself
        merged = {**current.metadata, **change}
        merged = {k: v for k, v in merged.items() if v is not None}
        size = len(json.dumps(merged, allow_nan=False))
        if size > record.MAX_METADATA_CHARS:
            raise InvalidInputError(f"the memory's metadata would be {size} characters as JSON after this update; the "
                                    f"limit is {record.MAX_METADATA_CHARS}. Remove keys (set them to null) or store "
                                    "less.")

    def delete(self, hash_: str) -> None:
        if not self.storage.delete(_hash(hash_)):
            raise _not_found(hash_)

    def merge(self, hashes: Sequence[str], content: str, tags: str | Sequence[str] | None = None,
              memory_type: str | None = None) -> tuple[Memory, list[str]]:
        """Replace several memories by one: the merged memory is stored first (tags: the union of theirs
        unless given; type: the first one's that has one, unless given; metadata `merged_from`), then the others are
        deleted, so an interruption leaves both rather than neither. Returns it and the hashes deleted."""
        wanted = list(dict.fromkeys(_hash(h) for h in hashes))
        if len(wanted) < 2:
            raise InvalidInputError("merge needs at least two different content_hashes.")
        sources = [self.get(h) for h in wanted]  # every one must exist before anything changes
        if tags is None:
            tags = list(dict.fromkeys(tag for m in sources for tag in m.tags))
        if memory_type is None:
            memory_type = next((m.memory_type for m in sources if m.memory_type), None)
        merged, _ = self.store(content, tags, memory_type, {"merged_from": wanted})
        gone = [h for h in wanted if h != merged.content_hash and self.storage.delete(h)]
        return merged, gone

    def delete_by_tag(self, tags: str | Sequence[str], match_all: bool = False) -> Sequence[str]:
        return self.storage.delete_where(MemoryFilter(tags=self._required_tags(tags), match_all=match_all))

    # -- the graph of associations (local database: sqlite_vec or hybrid) ------------------------------

    def discover_associations(self, min_similarity: float = 0.6, max_similarity: float = 0.95,
                              limit: int = 50) -> list[Memory]:
        """Store an association memory for each pair of memories whose similarity lies in the band (pairs
        already in the graph are skipped); returns the association memories stored now."""
        if not 0.0 <= min_similarity <= max_similarity <= 1.0:
            raise InvalidInputError("Need 0 <= min_similarity <= max_similarity <= 1; got "
                                    f"{min_similarity} and {max_similarity}.")
        limit = _bounded("limit", limit, MAX_PAGE_SIZE * 10)
        hashes, vectors, known = self._graph().candidates()
        stored = []
        for a, b, similarity in graph.find_pairs(hashes, vectors, min_similarity, max_similarity, limit, known):
            if self.storage.get(a) is None or self.storage.get(b) is None:
                continue  # deleted meanwhile
            content, tags, metadata = graph.association_memory_fields(a, b, similarity, ("semantic",))
            memory, created = self.store(content, tags, ASSOCIATION_TYPE, metadata)  # through the storage: it syncs
            if created:
                stored.append(memory)
        return stored

    def connected(self, hash_: str, max_hops: int = 2) -> list[tuple[Memory, int]]:
        """Memories linked to this one within max_hops associations, with their distance, nearest first."""
        store = self._graph()
        depth = _bounded("max_hops", max_hops, MAX_HOPS)
        if self.storage.get(_hash(hash_)) is None:
            raise _not_found(hash_)
        reached = store.connected(_hash(hash_), depth)
        found = [(self.storage.get(h), hops) for h, hops in reached]
        return [(m, hops) for m, hops in found if m is not None]

    def shortest_path(self, source: str, target: str, max_hops: int = 6) -> list[Memory] | None:
        """The memories along a shortest chain of associations from source to target, or None."""
        store = self._graph()
        depth = _bounded("max_hops", max_hops, MAX_HOPS)
        for h in (source, target):
            if self.storage.get(_hash(h)) is None:
                raise _not_found(h)
        path = store.shortest_path(_hash(source), _hash(target), depth)
        if path is None:
            return None
        return [m for m in (self.storage.get(h) for h in path) if m is not None]

    def edges_among(self, hashes: Sequence[str]) -> list[tuple[str, str, float]]:
        """The association edges whose both ends are among these memories: (source, target, similarity)."""
        return self._graph().edges_among([_hash(h) for h in hashes])

    def rebuild_graph(self) -> tuple[int, float]:
        """Refill the local graph table from the association memories: (edges, seconds taken)."""
        store = self._graph()
        start = time.perf_counter()
        edges = store.rebuild()
        return edges, time.perf_counter() - start

    def summarize_clusters(self, min_size: int = 3) -> list[tuple[Memory, bool]]:
        """Store one summary memory per group of at least `min_size` connected memories; returns each
        group's summary with whether it was stored now (False: the same group was summarised before)."""
        if not 2 <= min_size <= 1000:
            raise InvalidInputError(f"min_size must be between 2 and 1000; got {min_size}.")
        groups = self._graph().clusters(min_size)
        summaries = []
        for group in groups:
            members = [m for m in (self.storage.get(h) for h in group) if m is not None]
            if len(members) < min_size:
                continue  # deleted meanwhile
            content, tags, metadata = graph.cluster_summary_fields(members)
            summaries.append(self.store(content[: self.max_content_length], tags, SUMMARY_TYPE, metadata))
        return summaries

    def graph_picture(self, limit: int = 300) -> dict[str, Any]:
        """The strongest association edges and their memories, for the dashboard's network picture."""
        edges, names = self._graph().strongest(_bounded("limit", limit, 2000))
        return {"nodes": [{"id": h, "text": text, "tags": _tags_of(tags)} for h, (text, tags) in names.items()],
                "edges": [{"source": a, "target": b, "similarity": s} for a, b, s in edges]}

    def _graph(self) -> Any:
        if not isinstance(self.storage, GraphStore):
            raise InvalidInputError(
                f"The graph lives in a local database, and the {self.storage.backend_name} backend has none: use "
                "sqlite_vec or hybrid (MCP_MEMORY_STORAGE_BACKEND).")
        return self.storage.graph

    def stats(self) -> dict[str, Any]:
        """The dashboard's figures (server/storage/stats.py): counts, per day, tags and types in use."""
        return self.storage.stats()

    def sync_status(self) -> SyncStatus:
        return self._syncing("sync_status").sync_status()

    def force_sync(self) -> SyncReport:
        return self._syncing("force_sync").force_sync()

    def _syncing(self, name: str) -> Syncing:
        if not isinstance(self.storage, Syncing):
            raise InvalidInputError(
                f"The {self.storage.backend_name} backend has no cloud copy to sync; {name} works with the hybrid "
                "backend (MCP_MEMORY_STORAGE_BACKEND=hybrid).")
        return self.storage

    def health(self) -> Health:
        report = self.storage.health()
        details = report.details.model_copy(update={"max_content_length": self.max_content_length})
        return report.model_copy(update={"details": details})

    def _query(self, query: str) -> str:
        """A search text, bounded: a question is not a memory, and a 4 MB one would cost seconds to embed."""
        text = query.strip() if isinstance(query, str) else ""
        if not record.visible(text):
            raise InvalidInputError("query is empty; give some text.")
        limit = min(self.max_content_length, MAX_QUERY_LENGTH)
        if len(text) > limit:
            raise InvalidInputError(f"query is {len(text)} characters; the limit is {limit}. Ask with fewer words.")
        return text

    @staticmethod
    def _required_tags(tags: str | Sequence[str]) -> tuple[str, ...]:
        normalised = normalise_tags(tags)
        if not normalised:
            raise InvalidInputError("Give at least one non-empty tag.")
        return normalised


SEARCH_MODES = (*RANKINGS, "exact", "ranked")
MAX_QUERY_LENGTH = 5000  # characters in a search query, whatever the content limit


def _ranking(mode: str) -> str:
    if mode not in RANKINGS:
        raise InvalidInputError(f"mode must be one of {', '.join(RANKINGS)}; got {mode!r}.")
    return mode


def _day(name: str, value: str) -> float:
    try:
        day = datetime.strptime(value.strip(), "%Y-%m-%d")
    except ValueError as exc:
        raise InvalidInputError(f"{name} must be a date as YYYY-MM-DD; got {value!r}.") from exc
    return day.astimezone().timestamp()  # local midnight


def _bounded(name: str, value: int, high: int) -> int:
    if not 1 <= value <= high:
        raise InvalidInputError(f"{name} must be between 1 and {high}; got {value}.")
    return value


def _hash(value: str) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise InvalidInputError(f"content_hash must be 64 hex characters (as returned by store_memory); got {value!r}.")
    return text


def _tags_of(stored: str) -> list[str]:
    """A row's tags column (a JSON list) for a picture; a damaged one shows as no tags."""
    try:
        tags = json.loads(stored)
    except (TypeError, ValueError):
        return []
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _not_found(hash_: str) -> NotFoundError:
    return NotFoundError(f"No memory has content_hash {hash_!r}. Use retrieve_memory or list_memories to find it.")
