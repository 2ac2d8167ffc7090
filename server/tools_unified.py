"""The unified tool profile: the names and parameters of mcp-memory-service 11.0 and later
(`memory_store`, `memory_search`, ...), for people whose prompts and clients already use them.

Chosen with MCP_MEMORY_TOOL_PROFILE=unified; the installer picks it when it imports a database made by
one of those releases. Only one profile is listed at a time, so a model never sees two names for one
tool. Both profiles call the same MemoryService, so they behave alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult
from pydantic import Field

from mcp.server.mcpserver.exceptions import ToolError
from server.schemas import (
    ConnectedMemoryOut, DeletedOut, GraphOut, HealthOut, MemoryOut, PageOut, ScoredMemoryOut, StoreOut, UnifiedSearchOut,
    UpdateOut,
)
from server.service import MemoryService
from server.tools import (
    ADDITIVE, CHANGES, READ_ONLY, Runner, _answer, _describe, _graph_line, _scored_text, health_answer, page_answer,
    shown,
)

Tags = Annotated[list[str] | str | None, Field(description="Tags, as a list or a comma-separated string.")]
TagMatch = Annotated[Literal["any", "all"], Field(description="any: memories with any of the tags; all: with every tag.")]
Day = Annotated[str | None, Field(description="A date, YYYY-MM-DD.")]


def register_unified(server: MCPServer[Any], get_service: Callable[[], MemoryService], run: Runner) -> None:
    @server.tool(annotations=ADDITIVE)
    async def memory_store(
        content: Annotated[str, Field(description="The text to remember.")],
        metadata: Annotated[dict[str, Any] | None, Field(
            description="Extra JSON fields to keep; `tags` (list or comma-separated) and `type` are read from "
                        "here too.")] = None,
        tags: Tags = None,
        memory_type: Annotated[str | None, Field(description="A category, e.g. note, decision, task.")] = None,
    ) -> Annotated[CallToolResult, StoreOut]:
        """Store a memory for later retrieval. Storing the same content again keeps the one memory."""
        extra = dict(metadata or {})
        tags = tags if tags is not None else extra.pop("tags", None)
        memory_type = memory_type if memory_type is not None else extra.pop("type", None)
        memory, created = await run(get_service().store, content, tags, memory_type, extra)
        out = StoreOut(content_hash=memory.content_hash, created=created, memory=MemoryOut.of(memory))
        verb = "Memory stored successfully" if created else "Already stored (unchanged)"
        return _answer(out, f"{verb} (hash: {memory.content_hash})")

    @server.tool(annotations=READ_ONLY)
    async def memory_search(
        query: Annotated[str | None, Field(description="What to look for, in natural language. Without it: newest "
                                                       "first.")] = None,
        limit: Annotated[int, Field(description="How many memories to return (1-100).")] = 10,
        tags: Tags = None,
        tag_match: TagMatch = "any",
        time_expr: Annotated[str | None, Field(description='A time phrase: "last week", "yesterday", "3 days ago".')] = None,
        after: Day = None,
        before: Day = None,
        mode: Annotated[Literal["hybrid", "semantic", "lexical", "exact"], Field(
            description="hybrid: by meaning and by the query's words (the default); semantic: by meaning only; "
                        "lexical: by words only; exact: memories whose text contains the query.")] = "hybrid",
    ) -> Annotated[CallToolResult, UnifiedSearchOut]:
        """Find memories by meaning (or exact text), filtered by tags and time; each with its similarity (0-1)."""
        hits = await run(get_service().search, query, limit, tags, tag_match, time_expr, after, before, mode)
        out = UnifiedSearchOut(query=shown(query), mode=mode, count=len(hits),
                               results=[ScoredMemoryOut.scored(h) for h in hits])
        what = f"(mode: {mode}) for query: {shown(query)!r}" if query else "(newest first)"
        return _answer(out, _scored_text(hits, what, scores=bool(query) and mode != "exact"))

    @server.tool(annotations=READ_ONLY)
    async def memory_list(
        page: Annotated[int, Field(description="Page number, from 1.")] = 1,
        page_size: Annotated[int, Field(description="Memories per page (1-100).")] = 20,
        tags: Tags = None,
        tag_match: TagMatch = "any",
        memory_type: Annotated[str | None, Field(description="Only memories of this type.")] = None,
    ) -> Annotated[CallToolResult, PageOut]:
        """Page through stored memories, newest first, optionally filtered by tags and type."""
        service = get_service()
        where = await run(service.filter, tags, tag_match, None, None, None, memory_type)
        memories, total = await run(service.page, where, page, page_size)
        return page_answer(memories, total, page, page_size)

    @server.tool(annotations=CHANGES)
    async def memory_delete(
        content_hash: Annotated[str | None, Field(description="Delete this one memory (other filters are then "
                                                              "ignored).")] = None,
        tags: Tags = None,
        tag_match: TagMatch = "any",
        after: Day = None,
        before: Day = None,
        dry_run: Annotated[bool, Field(description="Only say what would be deleted.")] = False,
    ) -> Annotated[CallToolResult, DeletedOut]:
        """Delete one memory by its hash, or every memory matching tags and/or a date range."""
        service = get_service()
        if content_hash:
            if dry_run:
                found = await run(service.get, content_hash)
                hashes = [found.content_hash]
            else:
                await run(service.delete, content_hash)
                hashes = [content_hash]
        else:
            where = await run(service.filter, tags, tag_match, None, after, before)
            hashes = list(await run(service.delete_where, where, dry_run))
        out = DeletedOut(dry_run=dry_run, deleted_count=len(hashes), content_hashes=hashes)
        verb = "Would delete" if dry_run else "Deleted"
        return _answer(out, f"{verb} {len(hashes)} memories" + (f"\nHashes: {', '.join(hashes)}" if dry_run else ""))

    @server.tool(annotations=CHANGES)
    async def memory_update(
        content_hash: Annotated[str, Field(description="The memory's content_hash.")],
        updates: Annotated[dict[str, Any], Field(
            description="What to change: tags (replaces the set), memory_type, metadata (merged; a key set to "
                        "null is removed). The content never changes.")],
    ) -> Annotated[CallToolResult, UpdateOut]:
        """Change a memory's tags, type or metadata."""
        unknown = set(updates) - {"tags", "memory_type", "metadata"}
        if unknown:
            raise ToolError(f"updates may hold tags, memory_type and metadata; not {', '.join(sorted(unknown))}.")
        memory = await run(get_service().update_metadata, content_hash, updates.get("tags"),
                           updates.get("memory_type"), updates.get("metadata"))
        return _answer(UpdateOut(memory=MemoryOut.of(memory)),
                       f"Successfully updated memory metadata. {memory.content_hash}: {_describe(memory)}")

    @server.tool(annotations=READ_ONLY)
    async def memory_health() -> Annotated[CallToolResult, HealthOut]:
        """Report the storage backend, memory count, database size, embedding engine and SQLite settings."""
        return health_answer(await run(get_service().health))

    @server.tool(annotations=READ_ONLY)
    async def memory_graph(
        action: Annotated[Literal["connected", "path"], Field(
            description="connected: memories linked to `hash`; path: the shortest chain from hash1 to hash2.")],
        hash: Annotated[str | None, Field(description="For connected: the memory's content_hash.")] = None,
        hash1: Annotated[str | None, Field(description="For path: where the chain starts.")] = None,
        hash2: Annotated[str | None, Field(description="For path: where it ends.")] = None,
        max_hops: Annotated[int, Field(description="For connected: association hops to follow (1-10).")] = 2,
        max_depth: Annotated[int, Field(description="For path: the longest chain to look for (1-10).")] = 5,
    ) -> Annotated[CallToolResult, GraphOut]:
        """Explore the association graph: memories connected to one, or the path between two."""
        service = get_service()
        if action == "connected":
            if not hash:
                raise ToolError("action connected needs hash.")
            found = await run(service.connected, hash, max_hops)
            members = [ConnectedMemoryOut(hops=h, memory=MemoryOut.of(m)) for m, h in found]
            lines = [f"{h} hop(s): {_graph_line(m)}" for m, h in found]
            text = "\n".join([f"{len(found)} memories connected within {max_hops} hop(s)", *lines])
            return _answer(GraphOut(action=action, found=bool(found), count=len(found), memories=members), text)
        if not hash1 or not hash2:
            raise ToolError("action path needs hash1 and hash2.")
        path = await run(service.shortest_path, hash1, hash2, max_depth) or []
        members = [ConnectedMemoryOut(hops=i, memory=MemoryOut.of(m)) for i, m in enumerate(path)]
        text = (f"path of {len(path) - 1} hop(s):\n" + "\n".join(_graph_line(m) for m in path) if path
                else f"no path within {max_depth} hops")
        return _answer(GraphOut(action=action, found=bool(path), count=len(path), memories=members), text)
