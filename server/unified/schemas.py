"""The structured answers of the unified tools. Where mcp-memory-service answers with JSON text, the text
here is this same JSON (its keys first, ours after), so a prompt reading either keeps working."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from server.schemas import MemoryOut, PageOut, ScoredMemoryOut


class UnifiedSearchOut(BaseModel):
    query: str | None
    mode: str
    count: int
    results: list[ScoredMemoryOut]
    notes: list[str] = []  # parameters accepted but with nothing to act on here, said once


class Turn(BaseModel):
    role: str
    content: str


class SessionOut(BaseModel):
    content_hash: str | None  # None: no turn of the user's, nothing to keep
    session_id: str
    updated: bool  # the session's earlier record was updated (the same session_id), not a new one added
    remembered: list[str]  # hashes of the user's "remember ..." requests, each kept as its own memory


class UnifiedPageOut(PageOut):
    total_pages: int


class DeletedOut(BaseModel):
    dry_run: bool
    deleted_count: int  # with dry_run: how many would be deleted
    content_hashes: list[str]


class HopOut(BaseModel):
    hash: str
    distance: int


class EdgeOut(BaseModel):
    source: str
    target: str
    similarity: float


class GraphOut(BaseModel):
    success: bool = True
    action: str  # connected | path | subgraph
    count: int  # memories found (connected, subgraph) or on the path
    connected: list[HopOut] | None = None  # connected
    path: list[str] | None = None  # path: the hashes in order, or None when there is none
    length: int | None = None  # path: memories on it
    nodes: list[str] | None = None  # subgraph
    edges: list[EdgeOut] | None = None  # subgraph
    node_count: int | None = None
    edge_count: int | None = None
    message: str | None = None
    memories: list[MemoryOut] = []  # the memories named above, in the same order (ours: no second call needed)


class StatsOut(BaseModel):
    message: str
    backend_info: dict[str, Any]  # storage_backend, sqlite_path, embedding_model
    total_memories: int
    database_size_bytes: int
    memories_per_day: list[tuple[str, int]]  # the last 90 days with any
    top_tags: list[tuple[str, int]]


class CleanupOut(BaseModel):
    removed: int
    message: str


class ConsolidateOut(BaseModel):
    action: str
    message: str
    associations_stored: int = 0  # run
    summaries_stored: int = 0  # run
    merged: MemoryOut | None = None  # merge
    deleted_hashes: list[str] = []  # merge


class MistakeNoteOut(BaseModel):
    status: str  # created | updated | deleted
    content_hash: str
    logical_hash: str | None = None
    failure_count: int | None = None
    message: str | None = None


class MistakeFoundOut(BaseModel):
    content_hash: str
    logical_hash: str | None
    content: str
    similarity: float
    failure_count: int
    metadata: dict[str, Any]
    updated_at: str


class MistakeSearchOut(BaseModel):
    notes: list[MistakeFoundOut]
    count: int
