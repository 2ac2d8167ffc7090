"""The MCP tools: thin wrappers that hand work to MemoryService and shape its answers.

Names and parameters follow the leading project (mcp-memory-service) so clients and prompts written for
it keep working. Each tool returns structured content (its output schema) and a readable text; a
caller's mistake becomes a tool error whose text says what to fix.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Literal, Any, TypeVar

import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import BaseModel, ConfigDict, Field, model_validator

from server.answers import (
    ADDITIVE, CHANGES, READ_ONLY, SYNCS, Runner, answer, describe, graph_line, health_answer, page_answer, plain_text,
    scored_text, shown, sync_text,
)
from server.errors import MemoryServerError
from server.schemas import (
    AssociationsOut, ClustersOut, ConnectedMemoryOut, ConnectedOut, PathOut, RebuildOut,
    DeleteByTagOut, DeleteOut, MemoriesOut, MemoryOut, PageOut, RecallOut, ScoredMemoryOut,
    SearchOut, StoreOut, UpdateOut,
)
from server.record.status import Health, SyncReport, SyncStatus
from server.service import MemoryService

T = TypeVar("T")

Tags = Annotated[list[str] | str | None, Field(description="Tags, as a list or a comma-separated string.")]
RequiredTags = Annotated[list[str] | str, Field(description="One or more tags, as a list or comma-separated string.")]
Hash = Annotated[str, Field(description="The memory's content_hash, as returned by store_memory or a search.")]
SearchMode = Annotated[Literal["hybrid", "semantic", "lexical"], Field(
    description="hybrid: by meaning and by the query's words (identifiers such as error codes rank first); "
                "semantic: by meaning only; lexical: by words only.")]
NResults = Annotated[int, Field(description="How many memories to return (1-100).")]


def register_tools(server: MCPServer[Any], get_service: Callable[[], MemoryService], profile: str = "classic") -> None:
    """Add the memory tools of `profile` to `server` (classic: store_memory, retrieve_memory, ...; unified:
    memory_store, memory_search, ...), and the tools both share; `get_service` gives the service once the
    lifespan opened it."""

    async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))
        except MemoryServerError as exc:  # our errors say what to do: the caller sees them as tool errors
            raise ToolError(str(exc)) from exc

    if profile == "unified":
        from server.unified.memory_tools import register_unified
        from server.unified.mistake_tools import register_mistake_notes

        register_unified(server, get_service, run)
        register_mistake_notes(server, get_service, run)
    else:
        _register_classic(server, get_service, run)
    from server.documents.tools import register_ingest

    register_ingest(server, get_service, run, "memory_ingest" if profile == "unified" else "ingest_document")

    @server.tool(annotations=ADDITIVE)
    async def discover_associations(
        min_similarity: Annotated[float, Field(description="Lowest similarity of a pair to associate (0-1).")] = 0.6,
        max_similarity: Annotated[float, Field(description="Highest; above it pairs are near-duplicates.")] = 0.95,
        limit: Annotated[int, Field(description="At most this many new associations (1-1000).")] = 50,
    ) -> Annotated[CallToolResult, AssociationsOut]:
        """Find pairs of memories whose similarity lies in a band and store each pair as an association memory
        (tagged association, discovered); they sync like any memory and feed the local graph."""
        stored = await run(get_service().discover_associations, min_similarity, max_similarity, limit)
        out = AssociationsOut(stored=len(stored), associations=[MemoryOut.of(m) for m in stored])
        lines = [f"[{m.metadata['similarity']:.2f}] {m.metadata['source_hash']} <-> {m.metadata['target_hash']}"
                 for m in stored]
        return answer(out, "\n".join([f"{len(stored)} new association(s) stored", *lines]))

    @server.tool(annotations=ADDITIVE)
    async def rebuild_graph() -> Annotated[CallToolResult, RebuildOut]:
        """Rebuild the local graph table from the association memories (after an import, or to repair it)."""
        edges, seconds = await run(get_service().rebuild_graph)
        return answer(RebuildOut(edges=edges, seconds=round(seconds, 4)), f"{edges} edges in {seconds:.2f} s")

    @server.tool(annotations=ADDITIVE)
    async def summarize_clusters(
        min_size: Annotated[int, Field(description="Smallest group of connected memories to summarise (2-1000).")] = 3,
    ) -> Annotated[CallToolResult, ClustersOut]:
        """Store a summary memory (tagged cluster, summary) for each group of connected memories."""
        summaries = await run(get_service().summarize_clusters, min_size)
        new = sum(created for _, created in summaries)
        out = ClustersOut(clusters=len(summaries), stored=new, summaries=[MemoryOut.of(m) for m, _ in summaries])
        lines = [f"{'new' if created else 'already stored'}: {graph_line(m)}" for m, created in summaries]
        return answer(out, "\n".join([f"{len(summaries)} cluster(s) of at least {min_size} memories, {new} new "
                                       "summary memory(ies) stored", *lines]))

    @server.tool(annotations=READ_ONLY)
    async def sync_status() -> Annotated[CallToolResult, SyncStatus]:
        """Hybrid backend: how many memories wait for the cloud, parked operations, last sync, last error."""
        out = await run(get_service().sync_status)
        return answer(out, sync_text(out))

    @server.tool(annotations=SYNCS)
    async def force_sync() -> Annotated[CallToolResult, SyncReport]:
        """Hybrid backend: sync with the cloud now, both ways, sending only what is missing or changed."""
        out = await run(get_service().force_sync)
        text = (f"synced: sent {out.sent_new} new, {out.sent_updates} updates, {out.sent_deletes} deletes; "
                f"pulled {out.pulled_new} new, {out.pulled_updates} updates, {out.applied_deletes} deletes"
                + (f"; {out.parked} parked" if out.parked else ""))
        return answer(out, text)


def _register_classic(server: MCPServer[Any], get_service: Callable[[], MemoryService], run: Runner) -> None:
    """The tool names of mcp-memory-service up to 10.x, and ours from the start."""

    @server.tool(annotations=ADDITIVE)
    async def store_memory(
        content: Annotated[str, Field(description="The text to remember.")],
        tags: Tags = None,
        memory_type: Annotated[str | None, Field(description="A category, e.g. note, decision, task.")] = None,
        metadata: Annotated[dict[str, Any] | None, Field(description="Extra JSON fields to keep.")] = None,
    ) -> Annotated[CallToolResult, StoreOut]:
        """Store a memory for later retrieval. Storing the same content again keeps the one memory."""
        memory, created = await run(get_service().store, content, tags, memory_type, metadata)
        verb = "Stored" if created else "Already stored (unchanged)"
        out = StoreOut(content_hash=memory.content_hash, created=created, memory=MemoryOut.of(memory))
        return answer(out, f"{verb}: content_hash {memory.content_hash}")

    @server.tool(annotations=READ_ONLY)
    async def retrieve_memory(
        query: Annotated[str, Field(description="What to look for, in natural language.")],
        n_results: NResults = 5,
        tags: Annotated[list[str] | str | None, Field(description="Only memories with any of these tags.")] = None,
        min_similarity: Annotated[float, Field(description="Drop results below this score (0-1).")] = 0.0,
        mode: SearchMode = "hybrid",
    ) -> Annotated[CallToolResult, SearchOut]:
        """Find the memories that best answer the query, by meaning and by its words, each with its score (0-1)."""
        hits = await run(get_service().retrieve, query, n_results, tags, min_similarity, mode)
        out = SearchOut(query=shown(query), count=len(hits), results=[ScoredMemoryOut.scored(h) for h in hits])
        return answer(out, scored_text(hits, f"for {shown(query)!r}"))

    @server.tool(annotations=READ_ONLY)
    async def recall_memory(
        query: Annotated[str, Field(description='A time phrase, optionally with a topic: "last week about python", '
                                                '"yesterday", "3 days ago", "2026-11-02", "from 2026-11-01 to 2026-11-05".')],
        n_results: NResults = 5,
        mode: SearchMode = "hybrid",
    ) -> Annotated[CallToolResult, RecallOut]:
        """Recall memories from a time period; with a topic, the best matches from that period first."""
        found = await run(get_service().recall, query, n_results, None, mode)
        out = RecallOut(time_expression=found.expression, start=found.start_iso, end=found.end_iso,
                        semantic_query=found.semantic_query, count=len(found.memories),
                        results=[ScoredMemoryOut.scored(h) for h in found.memories])
        span = f"from {found.start_iso} to {found.end_iso} ({found.expression!r})"
        return answer(out, scored_text(found.memories, span, scores=bool(found.semantic_query)))

    @server.tool(annotations=READ_ONLY)
    async def search_by_tag(
        tags: RequiredTags,
        match_all: Annotated[bool, Field(description="True: memories with every tag; false: with any tag.")] = False,
        limit: Annotated[int, Field(description="At most this many memories, newest first (1-1000).")] = 50,
    ) -> Annotated[CallToolResult, MemoriesOut]:
        """List memories carrying the given tags, newest first."""
        memories = await run(get_service().search_by_tag, tags, match_all, limit)
        out = MemoriesOut(count=len(memories), memories=[MemoryOut.of(m) for m in memories])
        return answer(out, plain_text(memories, f"with {'all' if match_all else 'any'} of the tags {tags!r}"))

    @server.tool(annotations=READ_ONLY)
    async def list_memories(
        page: Annotated[int, Field(description="Page number, from 1.")] = 1,
        page_size: Annotated[int, Field(description="Memories per page (1-100).")] = 10,
        tag: Annotated[str | None, Field(description="Only memories with this tag.")] = None,
        memory_type: Annotated[str | None, Field(description="Only memories of this type.")] = None,
    ) -> Annotated[CallToolResult, PageOut]:
        """Page through stored memories, newest first, optionally filtered by tag and type."""
        memories, total = await run(get_service().list_memories, page, page_size, tag, memory_type)
        return page_answer(memories, total, page, page_size)

    @server.tool(annotations=CHANGES)
    async def update_memory_metadata(
        content_hash: Hash,
        tags: Annotated[list[str] | str | None, Field(description="New tags; replaces the current set.")] = None,
        memory_type: Annotated[str | None, Field(description="New type.")] = None,
        metadata: Annotated[dict[str, Any] | None, Field(
            description="Keys to set in the metadata (merged); a key set to null is removed.")] = None,
    ) -> Annotated[CallToolResult, UpdateOut]:
        """Change a memory's tags, type or metadata. Its content (and so its hash) never changes."""
        memory = await run(get_service().update_metadata, content_hash, tags, memory_type, metadata)
        return answer(UpdateOut(memory=MemoryOut.of(memory)), f"Updated {memory.content_hash}: {describe(memory)}")

    @server.tool(annotations=CHANGES)
    async def delete_memory(content_hash: Hash) -> Annotated[CallToolResult, DeleteOut]:
        """Delete one memory by its content hash."""
        await run(get_service().delete, content_hash)
        return answer(DeleteOut(content_hash=content_hash, deleted=True), f"Deleted {content_hash}")

    @server.tool(annotations=CHANGES)
    async def delete_by_tag(
        tags: RequiredTags,
        match_all: Annotated[bool, Field(description="True: only memories with every tag; false: with any.")] = False,
    ) -> Annotated[CallToolResult, DeleteByTagOut]:
        """Delete every memory carrying the given tags (any of them, or all with match_all)."""
        hashes = list(await run(get_service().delete_by_tag, tags, match_all))
        tag_list = [tags] if isinstance(tags, str) else list(tags)
        out = DeleteByTagOut(tags=tag_list, match_all=match_all, deleted_count=len(hashes), content_hashes=hashes)
        return answer(out, f"Deleted {len(hashes)} memories tagged {tags!r}")

    @server.tool(annotations=READ_ONLY)
    async def check_database_health() -> Annotated[CallToolResult, Health]:
        """Report the storage backend, memory count, database size, embedding engine and SQLite settings."""
        return health_answer(await run(get_service().health))

    @server.tool(annotations=READ_ONLY)
    async def find_connected_memories(
        content_hash: Hash,
        max_hops: Annotated[int, Field(description="How many association hops to follow (1-10).")] = 2,
    ) -> Annotated[CallToolResult, ConnectedOut]:
        """Memories linked to this one through associations, within max_hops, nearest first."""
        found = await run(get_service().connected, content_hash, max_hops)
        out = ConnectedOut(content_hash=content_hash, max_hops=max_hops, count=len(found),
                           memories=[ConnectedMemoryOut(hops=h, memory=MemoryOut.of(m)) for m, h in found])
        lines = [f"{h} hop(s): {graph_line(m)}" for m, h in found]
        return answer(out, "\n".join([f"{len(found)} memories connected within {max_hops} hop(s)", *lines]))

    @server.tool(annotations=READ_ONLY)
    async def find_shortest_path(
        source_hash: Hash, target_hash: Hash,
        max_hops: Annotated[int, Field(description="Longest path to look for (1-10).")] = 6,
    ) -> Annotated[CallToolResult, PathOut]:
        """The shortest chain of associations between two memories, if there is one within max_hops."""
        path = await run(get_service().shortest_path, source_hash, target_hash, max_hops)
        if path is None:
            return answer(PathOut(found=False, hops=None, path=[]), f"no path within {max_hops} hops")
        out = PathOut(found=True, hops=len(path) - 1, path=[MemoryOut.of(m) for m in path])
        return answer(out, "\n".join([f"path of {len(path) - 1} hop(s):", *(graph_line(m) for m in path)]))


_Args = TypeVar("_Args", bound=BaseModel)


def refuse_unknown_arguments(server: MCPServer[Any]) -> None:
    """Make every tool refuse arguments it does not take, naming the ones it does: a misspelled `n_result`
    would otherwise be dropped silently and the call would answer as if it had not been given. The input
    schemas then say `additionalProperties: false`, so clients can tell too. (mcp 2.x: the tool manager
    reads `fn_metadata.arg_model` live.)"""
    for tool in server._tool_manager.list_tools():  # noqa: SLF001 - no public hook for this in the SDK
        strict = _strict(tool.fn_metadata.arg_model, tool.name)
        tool.fn_metadata.arg_model = strict
        tool.parameters = strict.model_json_schema(by_alias=True)


def _strict(base: type[_Args], tool_name: str) -> type[_Args]:
    """The tool's argument model, refusing what it does not take and naming what it does."""
    known = sorted(f.alias or name for name, f in base.model_fields.items())

    class Strict(base):  # type: ignore[valid-type, misc]  # a model made at run time, from the SDK's
        model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

        @model_validator(mode="before")
        @classmethod
        def _refuse_unknown(cls, data: Any) -> Any:
            unknown = sorted(set(data) - set(known)) if isinstance(data, dict) else []
            if unknown:
                raise ValueError(f"unknown argument(s) {', '.join(map(repr, unknown))}; {tool_name} takes: "
                                 f"{', '.join(known) or 'no arguments'}")
            return data

    Strict.__name__ = Strict.__qualname__ = f"{base.__name__}Strict"
    return Strict
