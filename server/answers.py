"""How the tools answer: their annotations, structured content with a readable text, and the texts shared by
both tool profiles (server/tools.py, server/unified/). Nothing here knows a tool's name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, overload

from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel

from server.record.status import Health, SyncStatus
from server.schemas import MemoryOut, PageOut
from server.record import Memory
from server.storage.base import ScoredMemory

Runner = Callable[..., Awaitable[Any]]  # runs a service method in a worker thread, as a tool error if it fails

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
ADDITIVE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
# Talks to the cloud (an open world) and changes both sides, but only towards the same state: idempotent.
SYNCS = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
CHANGES = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False)


def health_answer(health: Health) -> CallToolResult:
    embedding = health.embedding
    text = (f"{health.status}: {health.backend}, {health.total_memories} memories, {health.database_size_bytes} bytes, "
            f"engine {embedding.engine} ({'ready' if embedding.ready else 'loading'})")
    if health.problems:
        text += "; " + "; ".join(health.problems)
    if health.sync is not None:
        text += "; sync: " + sync_text(health.sync)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=health.as_json())


def page_answer(memories: Sequence[Memory], total: int, page: int, page_size: int) -> CallToolResult:
    """A page of a listing. Rows that cannot be read are left out by the store; the page says how many."""
    skipped = max(0, min(page_size, total - (page - 1) * page_size) - len(memories))
    out = PageOut(page=page, page_size=page_size, total=total, has_more=page * page_size < total,
                  memories=[MemoryOut.of(m) for m in memories], skipped=skipped)
    text = plain_text(memories, f"(page {page}, {total} in all)")
    if skipped:
        text += (f"\n{skipped} stored {'memory' if skipped == 1 else 'memories'} on this page cannot be read and "
                 "were skipped; check_database_health names them.")
    return answer(out, text)


@overload
def shown(query: str, width: int = ...) -> str: ...
@overload
def shown(query: None, width: int = ...) -> None: ...
def shown(query: str | None, width: int = 200) -> str | None:
    """A query as answers echo it: in full when short, else cut (an answer never repeats a huge input)."""
    if query is None or len(query) <= width:
        return query
    return query[:width - 1] + "…"


def sync_text(status: SyncStatus) -> str:
    reach = {True: "cloud reachable", False: "cloud unreachable", None: "cloud not tried yet"}[status.cloud_reachable]
    text = f"{status.queue_depth} queued, {status.parked} parked, {reach}"
    if status.last_error and status.cloud_reachable is not True:
        text += f" (last error: {status.last_error})"
    return text


def answer(out: BaseModel, text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=out.model_dump(mode="json"))


def graph_line(memory: Memory, width: int = 100) -> str:
    text = " ".join(memory.content.split())
    return f"{text if len(text) <= width else text[:width - 1] + '…'} ({memory.content_hash})"


def describe(memory: Memory) -> str:
    tags = ", ".join(memory.tags) or "none"
    kind = f", type {memory.memory_type}" if memory.memory_type else ""
    return f"tags {tags}{kind}, created {memory.created_at_iso}"


def scored_text(hits: Sequence[ScoredMemory], what: str, scores: bool = True) -> str:
    if not hits:
        return f"No memories found {what}."
    lines = [f"{len(hits)} {'memory' if len(hits) == 1 else 'memories'} {what}:"]
    for n, hit in enumerate(hits, 1):
        score = f"[{hit.similarity:.2f}] " if scores else ""
        lines.append(f"{n}. {score}{hit.memory.content}\n   ({hit.memory.content_hash}; {describe(hit.memory)})")
    return "\n".join(lines)


def plain_text(memories: Sequence[Memory], what: str) -> str:
    return scored_text([ScoredMemory(m, 1.0) for m in memories], what, scores=False)
