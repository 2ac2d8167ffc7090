"""What the tools return: pydantic models published as each tool's output schema.

Each tool answers with these as structured content, plus a short readable text for models and people.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from server.record import NAMES, Memory
from server.storage.base import ScoredMemory, Why


class MemoryOut(BaseModel):
    content: str
    content_hash: str
    tags: list[str]
    memory_type: str | None
    metadata: dict[str, Any]
    created_at: float
    created_at_iso: str
    updated_at: float
    updated_at_iso: str

    @classmethod
    def of(cls, memory: Memory) -> MemoryOut:
        """Every field of the record, by name (tests/test_records.py keeps the two lists equal)."""
        return cls(**{name: getattr(memory, name) for name in NAMES})


class WhyOut(BaseModel):
    """Why a result ranked where it did: score = (1 - words_weight) * meaning + words_weight * words + bonus."""

    meaning: float  # cosine similarity to the question
    words: float  # its word match as counted: BM25 scaled to the question's best, times its share of the words
    words_weight: float  # how much words counted for this question (0 when it was asked in other words)
    identifier_bonus: float  # when it holds every identifier of the question (an error code, a path)
    matched_words: list[str]  # the question's words it holds

    @classmethod
    def of(cls, why: Why) -> WhyOut:
        return cls(meaning=round(why.meaning, 4), words=round(why.words, 4), words_weight=round(why.words_weight, 4),
                   identifier_bonus=round(why.identifier_bonus, 4), matched_words=list(why.matched_words))


class ScoredMemoryOut(MemoryOut):
    similarity: float
    why: WhyOut | None = None  # the parts of the score (searches by a question; not listings)

    @classmethod
    def scored(cls, hit: ScoredMemory) -> ScoredMemoryOut:
        why = WhyOut.of(hit.why) if hit.why is not None else None
        return cls(**MemoryOut.of(hit.memory).model_dump(), similarity=hit.similarity, why=why)


class StoreOut(BaseModel):
    content_hash: str
    created: bool
    memory: MemoryOut


class SearchOut(BaseModel):
    query: str
    count: int
    results: list[ScoredMemoryOut]


class RecallOut(BaseModel):
    time_expression: str
    start: str
    end: str
    semantic_query: str
    count: int
    results: list[ScoredMemoryOut]


class MemoriesOut(BaseModel):
    count: int
    memories: list[MemoryOut]


class PageOut(BaseModel):
    page: int
    page_size: int
    total: int
    has_more: bool
    memories: list[MemoryOut]
    skipped: int = 0  # stored records on this page that cannot be read (check_database_health names them)


class UpdateOut(BaseModel):
    memory: MemoryOut


class DeleteOut(BaseModel):
    content_hash: str
    deleted: bool


class DeleteByTagOut(BaseModel):
    tags: list[str]
    match_all: bool
    deleted_count: int
    content_hashes: list[str]


class AssociationsOut(BaseModel):
    stored: int
    associations: list[MemoryOut]  # each with metadata {similarity, connection_types, source_hash, target_hash}


class ConnectedMemoryOut(BaseModel):
    hops: int
    memory: MemoryOut


class ConnectedOut(BaseModel):
    content_hash: str
    max_hops: int
    count: int
    memories: list[ConnectedMemoryOut]


class PathOut(BaseModel):
    found: bool
    hops: int | None
    path: list[MemoryOut]


class RebuildOut(BaseModel):
    edges: int
    seconds: float


class ClustersOut(BaseModel):
    clusters: int  # groups of connected memories of at least min_size
    stored: int  # summary memories stored now (a group summarised before keeps its summary)
    summaries: list[MemoryOut]  # one per group; metadata {member_hashes, size}
