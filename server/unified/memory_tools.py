"""The unified profile's memory tools: mcp-memory-service 12.4.0's names, parameters and answer shapes
(`memory_store`, `memory_search`, ...), for people whose prompts and clients already use them.

Chosen with MCP_MEMORY_TOOL_PROFILE=unified. Only one profile is listed at a time, so a model never sees two
names for one tool; both call the same MemoryService, so they behave alike. A parameter of that project's
is taken even when there is nothing here for it to act on (no quality scores, no superseded versions),
and the answer says so once; one whose answer would be wrong here (an entity graph, another store) is
refused with what to do instead. docs/coming-from-mcp-memory-service.md has the table of all 26 tools.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from server import __version__
from server.record.status import Health
from server.schemas import MemoryOut, ScoredMemoryOut, StoreOut, UpdateOut
from server.search import ranked
from server.service import MemoryService
from server.storage.base import MemoryFilter, ScoredMemory
from server.answers import ADDITIVE, CHANGES, READ_ONLY, Runner, answer, shown
from server.unified.schemas import (
    CleanupOut, ConsolidateOut, DeletedOut, EdgeOut, GraphOut, HopOut, SessionOut, StatsOut, Turn, UnifiedPageOut,
    UnifiedSearchOut,
)

Tags = Annotated[list[str] | str | None, Field(description="Tags, as a list or a comma-separated string.")]
TagMatch = Annotated[Literal["any", "all"], Field(description="any: memories with any of the tags; all: with every tag.")]
Day = Annotated[str | None, Field(description="A date, YYYY-MM-DD.")]
AgentId = Annotated[str | None, Field(description="Only memories stored with this agent_id (tag agent:<id>).")]
Store = Annotated[str | None, Field(description="This server keeps one store: 'default' (or leave it out).")]
HashArg = Annotated[str, Field(description="The memory's content_hash.")]
SHOWN_HASHES = 5  # a dry run's text names this many hashes, then how many more (as mcp-memory-service)


def register_unified(server: MCPServer[Any], get_service: Callable[[], MemoryService], run: Runner) -> None:
    @server.tool(annotations=ADDITIVE)
    async def memory_store(
        content: Annotated[str, Field(description="The text to remember.")],
        metadata: Annotated[dict[str, Any] | None, Field(
            description="Extra JSON fields to keep; `tags` (list or comma-separated) and `type` are read from "
                        "here too.")] = None,
        tags: Tags = None,
        memory_type: Annotated[str | None, Field(description="A category, e.g. note, decision, task.")] = None,
        conversation_id: Annotated[str | None, Field(
            description="Kept in metadata. (Only identical text is folded into one memory here, so no "
                        "similar memory is ever skipped.)")] = None,
        agent_id: Annotated[str | None, Field(description="Who stored it: kept in metadata and as the tag "
                                                          "agent:<id>.")] = None,
        store: Store = None,
    ) -> Annotated[CallToolResult, StoreOut]:
        """Store a memory for later retrieval. Storing the same content again keeps the one memory."""
        _one_store(store)
        extra = dict(metadata or {})
        tags = tags if tags is not None else extra.pop("tags", None)
        memory_type = memory_type if memory_type is not None else extra.pop("type", None)
        if conversation_id:
            extra["conversation_id"] = conversation_id
        if agent_id:
            extra["agent_id"] = agent_id
            tags = [*_tag_list(tags), f"agent:{agent_id}"]
        memory, created = await run(get_service().store, content, tags, memory_type, extra)
        out = StoreOut(content_hash=memory.content_hash, created=created, memory=MemoryOut.of(memory))
        verb = "Memory stored successfully" if created else "Already stored (unchanged)"
        return answer(out, f"{verb} (hash: {memory.content_hash})")

    @server.tool(annotations=ADDITIVE)
    async def memory_store_session(
        turns: Annotated[list[Turn], Field(min_length=1, description="The conversation's turns in order: "
                                                                     "{role: user | assistant, content}.")],
        session_id: Annotated[str | None, Field(description="A stable id: storing the same session again updates "
                                                            "its record. A new one is made when left out.")] = None,
        tags: Tags = None,
        metadata: Annotated[dict[str, Any] | None, Field(
            description="Kept with the record; `project` (or a `cwd` folder) names the project it belongs to.")] = None,
    ) -> Annotated[CallToolResult, SessionOut]:
        """Store a whole conversation as one session record (what was asked, decisions, the outcome; secrets and
        <private> text removed), tagged session, session:<id> and the project; each "remember ..." of the user
        is kept as its own memory. The same session_id again updates the record."""
        from server.hooks.keep import store_session

        extra = _tag_list(tags)
        kept, used_id = await run(store_session, get_service(), [t.model_dump() for t in turns], session_id,
                                  extra, metadata)
        out = SessionOut(content_hash=kept.record_hash, session_id=used_id, updated=kept.updated,
                         remembered=list(kept.remembered))
        if kept.record_hash is None:
            return answer(out, f"Nothing to keep: no turn of the user's (session_id: {used_id})")
        verb = "Session record updated" if kept.updated else "Session stored successfully"
        said = f", {len(kept.remembered)} remembered" if kept.remembered else ""
        return answer(out, f"{verb} (hash: {kept.record_hash}, session_id: {used_id}{said})")

    @server.tool(annotations=READ_ONLY)
    async def memory_search(
        query: Annotated[str | None, Field(description="What to look for, in natural language. Without it: newest "
                                                       "first.")] = None,
        mode: Annotated[Literal["hybrid", "semantic", "lexical", "exact", "ranked"], Field(
            description="hybrid: by meaning and by the query's words (the default); semantic: by meaning only; "
                        "lexical: by words only; exact: memories whose text contains the query; ranked: hybrid "
                        "blended with how recent a memory is (ranking_weights).")] = "hybrid",
        limit: Annotated[int, Field(description="How many memories to return (1-100).")] = 10,
        tags: Tags = None,
        tag_match: TagMatch = "any",
        time_expr: Annotated[str | None, Field(description='A time phrase: "last week", "yesterday", "3 days ago".')] = None,
        after: Day = None,
        before: Day = None,
        ranking_weights: Annotated[dict[str, float] | None, Field(
            description="For mode ranked: weights of semantic and time_decay (normalised to sum 1). "
                        "access_frequency and quality are taken but weigh nothing: none are kept here.")] = None,
        quality_boost: Annotated[float, Field(description="Taken for compatibility (0-1): no quality scores are "
                                                          "kept here, so it changes no ranking.")] = 0.0,
        include_debug: Annotated[bool, Field(description="Add why each memory ranked: meaning, words, bonus.")] = False,
        max_response_chars: Annotated[int | None, Field(
            description="Cut the answer at a memory's boundary to stay within this many characters.")] = None,
        include_superseded: Annotated[bool, Field(description="Taken for compatibility: nothing is superseded "
                                                              "here.")] = False,
        fallback: Annotated[bool, Field(description="Taken for compatibility: the hybrid mode already matches "
                                                    "the query's words.")] = False,
        include_beliefs: Annotated[bool, Field(description="Taken for compatibility: no beliefs are derived "
                                                           "here.")] = False,
        summarize: Annotated[bool, Field(description="Taken for compatibility: the memories are returned as they "
                                                     "are (no summariser here).")] = False,
        entity: Annotated[str | None, Field(description="Not available: this server keeps no entity graph.")] = None,
        agent_id: AgentId = None,
        store: Annotated[str | None, Field(description="'default' or 'all': this server keeps one store.")] = None,
    ) -> Annotated[CallToolResult, UnifiedSearchOut]:
        """Find memories by meaning, words or exact text, filtered by tags and time; each with its score (0-1)."""
        _one_store(store, also=("all",))
        if entity:
            raise ToolError("entity: this server keeps no entity graph; search by query or tags instead.")
        if not 0.0 <= quality_boost <= 1.0:
            raise ToolError(f"quality_boost must be between 0 and 1; got {quality_boost}.")
        if max_response_chars is not None and max_response_chars < 1:
            raise ToolError(f"max_response_chars must be at least 1; got {max_response_chars}.")
        service = get_service()
        where = await run(service.filter, *_agent_tags(tags, tag_match, agent_id), time_expr, after, before)
        hits = await run(service.search, query, limit, mode=mode, ranking_weights=ranking_weights, where=where)
        notes = _search_notes(mode, ranking_weights, quality_boost, summarize)
        text, shown_hits = _search_text(hits, query, mode, include_debug, max_response_chars, notes)
        out = UnifiedSearchOut(query=shown(query), mode=mode, count=len(shown_hits),
                               results=[ScoredMemoryOut.scored(h) for h in shown_hits], notes=notes)
        return answer(out, text)

    @server.tool(annotations=READ_ONLY)
    async def memory_list(
        page: Annotated[int, Field(description="Page number, from 1.")] = 1,
        page_size: Annotated[int, Field(description="Memories per page (1-100).")] = 20,
        tags: Annotated[list[str] | str | None, Field(description="Tags, as a list or a comma-separated "
                                                                  "string.")] = None,
        tag_match: TagMatch = "any",
        memory_type: Annotated[str | None, Field(description="Only memories of this type.")] = None,
        stale_days: Annotated[int | None, Field(description="Only memories stored at least this many days ago "
                                                            "(reads are not tracked here).")] = None,
        agent_id: AgentId = None,
        store: Store = None,
    ) -> Annotated[CallToolResult, UnifiedPageOut]:
        """Page through stored memories, newest first, optionally filtered by tags, type and age (JSON)."""
        _one_store(store)
        service = get_service()
        where = await run(service.filter, *_agent_tags(tags, tag_match, agent_id), None, None, None, memory_type)
        if stale_days is not None:
            if stale_days < 1:
                raise ToolError(f"stale_days must be at least 1; got {stale_days}.")
            cutoff = time.time() - stale_days * 86400
            where = MemoryFilter(**{**where.__dict__, "end": min(where.end or math.inf, cutoff)})
        memories, total = await run(service.page, where, page, page_size)
        skipped = max(0, min(page_size, total - (page - 1) * page_size) - len(memories))
        out = UnifiedPageOut(page=page, page_size=page_size, total=total, has_more=page * page_size < total,
                             memories=[MemoryOut.of(m) for m in memories], skipped=skipped,
                             total_pages=math.ceil(total / page_size))
        return answer(out, _json_text(out, first=("memories", "page", "page_size", "total", "total_pages",
                                                    "has_more")))

    @server.tool(annotations=CHANGES)
    async def memory_delete(
        content_hash: Annotated[str | None, Field(description="Delete this one memory (other filters are then "
                                                              "ignored).")] = None,
        tags: Tags = None,
        tag_match: TagMatch = "any",
        after: Day = None,
        before: Day = None,
        dry_run: Annotated[bool, Field(description="Only say what would be deleted.")] = False,
        store: Store = None,
    ) -> Annotated[CallToolResult, DeletedOut]:
        """Delete one memory by its hash, or every memory matching tags and/or a date range."""
        _one_store(store)
        service = get_service()
        if content_hash:
            if dry_run:
                hashes = [(await run(service.get, content_hash)).content_hash]
            else:
                await run(service.delete, content_hash)
                hashes = [content_hash]
        else:
            where = await run(service.filter, tags, tag_match, None, after, before)
            hashes = list(await run(service.delete_where, where, dry_run))
        out = DeletedOut(dry_run=dry_run, deleted_count=len(hashes), content_hashes=hashes)
        if not dry_run:
            return answer(out, f"Deleted {len(hashes)} memories")
        more = f" ... and {len(hashes) - SHOWN_HASHES} more" if len(hashes) > SHOWN_HASHES else ""
        named = f"\nHashes: {', '.join(hashes[:SHOWN_HASHES])}{more}" if hashes else ""
        return answer(out, f"Would delete {len(hashes)} memories{named}")

    @server.tool(annotations=CHANGES)
    async def memory_update(
        content_hash: HashArg,
        updates: Annotated[dict[str, Any], Field(
            description="What to change: tags (replaces the set), memory_type, metadata (merged; a key set to "
                        "null is removed); any other key is merged into metadata. The content never changes "
                        "here (no versions are kept).")],
        preserve_timestamps: Annotated[bool, Field(description="The creation time is always kept; updated_at "
                                                               "says when the metadata changed.")] = True,
        versioned: Annotated[bool, Field(description="Not available: no versions are kept here. To change the "
                                                     "text, store the new text and delete the old memory.")] = False,
    ) -> Annotated[CallToolResult, UpdateOut]:
        """Change a memory's tags, type or metadata."""
        if versioned or "content" in updates:
            raise ToolError("Error: versioned updates are not supported by the current storage backend. To change "
                            "the text, store the new text with memory_store and delete the old memory.")
        extra = {k: v for k, v in updates.items() if k not in ("tags", "memory_type", "metadata", "reason")}
        metadata = updates.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise ToolError("updates.metadata must be an object of fields to merge.")
        merged = {**(metadata or {}), **extra} if (metadata is not None or extra) else None
        memory = await run(get_service().update_metadata, content_hash, updates.get("tags"),
                           updates.get("memory_type"), merged)
        changed = ", ".join(k for k in ("tags", "memory_type", "metadata") if k in updates or (k == "metadata" and extra))
        return answer(UpdateOut(memory=MemoryOut.of(memory)),
                       f"Successfully updated memory metadata. Updated {changed} of {memory.content_hash}.")

    @server.tool(annotations=READ_ONLY)
    async def memory_health() -> Annotated[CallToolResult, Health]:
        """Check database health and get statistics: backend, memory count, size, embedding engine, SQLite
        settings, and the cloud sync when there is one."""
        structured = (await run(get_service().health)).as_json()
        text = "Database Health Check Results:\n" + json.dumps(_health_report(structured), indent=2)
        return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)

    @server.tool(annotations=READ_ONLY)
    async def memory_stats() -> Annotated[CallToolResult, StatsOut]:
        """Statistics: the backend, memory count, database size, memories per day and the most used tags."""
        service = get_service()
        health, stats = await run(service.health), await run(service.stats)
        out = StatsOut(
            message=f"{health.total_memories} memories in the {health.backend} backend",
            backend_info={"storage_backend": health.backend, "sqlite_path": health.details.database_path,
                          "embedding_model": health.embedding.model or health.embedding.engine},
            total_memories=health.total_memories, database_size_bytes=health.database_size_bytes,
            memories_per_day=[tuple(row) for row in stats.get("per_day", [])],
            top_tags=[tuple(row) for row in stats.get("top_tags", [])])
        return answer(out, _json_text(out))

    @server.tool(annotations=CHANGES)
    async def memory_cleanup() -> Annotated[CallToolResult, CleanupOut]:
        """Find and remove duplicate entries."""
        await run(get_service().health)  # the store is open and answering
        out = CleanupOut(removed=0, message="No duplicates to remove: this server keeps each text once (storing "
                                            "the same text again keeps the first memory), so 0 were removed.")
        return answer(out, out.message)

    @server.tool(annotations=ADDITIVE)
    async def memory_consolidate(
        action: Annotated[Literal["run", "status", "merge", "recommend", "scheduler", "pause", "resume"], Field(
            description="run: link related memories (associations) and summarise groups of linked ones; status: "
                        "what consolidation has made so far; merge: replace content_hashes by one memory with "
                        "merged_content. recommend, scheduler, pause and resume: no scheduler runs here, so "
                        "they say so.")],
        time_horizon: Annotated[Literal["daily", "weekly", "monthly", "quarterly", "yearly"] | None, Field(
            description="Taken for compatibility: run looks at every memory.")] = None,
        immediate: Annotated[bool, Field(description="Taken for compatibility: run always runs now.")] = True,
        content_hashes: Annotated[list[str] | None, Field(description="For merge: the memories to merge (2 or "
                                                                      "more).")] = None,
        merged_content: Annotated[str | None, Field(description="For merge: the text of the merged memory.")] = None,
        tags: Annotated[list[str] | None, Field(description="For merge: its tags (default: the union of "
                                                            "theirs).")] = None,
        memory_type: Annotated[str | None, Field(description="For merge: its type (default: the first "
                                                             "one's that has one).")] = None,
    ) -> Annotated[CallToolResult, ConsolidateOut]:
        """Consolidate memories: link related ones and summarise groups (run), report (status), or merge several
        into one (merge)."""
        service = get_service()
        if action == "merge":
            if not content_hashes or not merged_content:
                raise ToolError("merge needs content_hashes (two or more) and merged_content.")
            merged, gone = await run(service.merge, content_hashes, merged_content, tags, memory_type)
            out = ConsolidateOut(action=action, merged=MemoryOut.of(merged), deleted_hashes=gone,
                                 message=f"Merged {len(gone)} memories into {merged.content_hash}")
        elif action == "run":
            associations = await run(service.discover_associations)
            summaries = await run(service.summarize_clusters)
            made = sum(1 for _, created in summaries if created)
            out = ConsolidateOut(action=action, associations_stored=len(associations), summaries_stored=made,
                                 message=f"Consolidation done: {len(associations)} new associations, {made} new group "
                                         f"summaries ({len(summaries) - made} groups were summarised before).")
        elif action == "status":
            links = await run(service.search_by_tag, "association", False, 1000)
            groups = await run(service.search_by_tag, "cluster", False, 1000)
            out = ConsolidateOut(action=action, message=(
                f"Consolidation runs on demand (action run); no scheduler.\nAssociations: {len(links)}"
                f"{'+' if len(links) == 1000 else ''}\nGroup summaries: {len(groups)}{'+' if len(groups) == 1000 else ''}"))
        else:
            out = ConsolidateOut(action=action, message=f"Consolidation scheduler: not here. Consolidation runs when "
                                                        f"asked (action run), so there is nothing to {action}.")
        return answer(out, out.message)

    @server.tool(annotations=READ_ONLY)
    async def memory_graph(
        action: Annotated[Literal["connected", "path", "subgraph"], Field(
            description="connected: memories linked to `hash`; path: the shortest chain from hash1 to hash2; "
                        "subgraph: the memories within `radius` of `hash` and the links between them.")],
        hash: Annotated[str | None, Field(description="For connected and subgraph: the memory's content_hash.")] = None,
        hash1: Annotated[str | None, Field(description="For path: where the chain starts.")] = None,
        hash2: Annotated[str | None, Field(description="For path: where it ends.")] = None,
        max_hops: Annotated[int, Field(description="For connected: association hops to follow (1-10).")] = 2,
        max_depth: Annotated[int, Field(description="For path: the longest chain to look for (1-10).")] = 5,
        radius: Annotated[int, Field(description="For subgraph: hops around hash (1-10).")] = 2,
    ) -> Annotated[CallToolResult, GraphOut]:
        """Explore the association graph: memories connected to one, the path between two, or a neighbourhood
        (JSON)."""
        service = get_service()
        if action in ("connected", "subgraph"):
            if not hash:
                raise ToolError(f"action {action} needs hash.")
            found = await run(service.connected, hash, max_hops if action == "connected" else radius)
            if action == "connected":
                out = GraphOut(action=action, count=len(found), memories=[MemoryOut.of(m) for m, _ in found],
                               connected=[HopOut(hash=m.content_hash, distance=d) for m, d in found])
            else:
                centre = await run(service.get, hash)
                members = [centre, *(m for m, _ in found)]
                edges = await run(service.edges_among, [m.content_hash for m in members])
                out = GraphOut(action=action, count=len(members), nodes=[m.content_hash for m in members],
                               edges=[EdgeOut(source=a, target=b, similarity=s) for a, b, s in edges],
                               node_count=len(members), edge_count=len(edges),
                               memories=[MemoryOut.of(m) for m in members])
        else:
            if not hash1 or not hash2:
                raise ToolError("action path needs hash1 and hash2.")
            path = await run(service.shortest_path, hash1, hash2, max_depth) or []
            out = GraphOut(action=action, count=len(path), path=[m.content_hash for m in path] if path else None,
                           length=len(path), memories=[MemoryOut.of(m) for m in path],
                           message=None if path else "No path found within depth limit")
        return answer(out, _json_text(out, leave_out=("memories",)))


def _one_store(store: str | None, also: tuple[str, ...] = ()) -> None:
    if store not in (None, "", "default", *also):
        raise ToolError(f"store {store!r}: this server keeps one store of memories; leave store out (or 'default'). "
                        "Tags can keep memories apart instead.")


def _tag_list(tags: list[str] | str | None) -> list[str]:
    if tags is None:
        return []
    return [t for t in (tags.split(",") if isinstance(tags, str) else tags)]


def _agent_tags(tags: list[str] | str | None, tag_match: str, agent_id: str | None) -> tuple[Any, str]:
    """The tags and match for a filter that also keeps only one agent's memories (tag agent:<id>)."""
    if not agent_id:
        return tags, tag_match
    given = [t for t in _tag_list(tags) if t.strip()]
    if given and tag_match == "any" and len(given) > 1:
        raise ToolError("agent_id with several tags and tag_match any cannot be one filter here; use tag_match all, "
                        "or one tag, or agent_id alone.")
    return [*given, f"agent:{agent_id}"], "all"


def _search_notes(mode: str, weights: dict[str, float] | None, quality_boost: float, summarize: bool) -> list[str]:
    notes = []
    if mode == "ranked" and ranked.dropped(weights):
        notes.append(f"ranking_weights {', '.join(ranked.dropped(weights))}: no such scores are kept here, so they "
                     "weigh nothing.")
    if quality_boost:
        notes.append("quality_boost: no quality scores are kept here, so it changed no ranking.")
    if summarize:
        notes.append("summarize: no summariser here; the memories are returned as they are.")
    return notes


def _search_text(hits: list[ScoredMemory], query: str | None, mode: str, debug: bool, budget: int | None,
                 notes: list[str]) -> tuple[str, list[ScoredMemory]]:
    """mcp-memory-service's text: a header, then a numbered block per memory; cut at a block's end when
    over `budget` characters. Returns the text and the memories it shows."""
    asked = f"for query: {shown(query)!r}" if query and query.strip() else "(newest first)"
    if not hits:
        return "\n".join([f"No memories found {asked}", *notes]), []
    blocks = []
    for n, hit in enumerate(hits, 1):
        memory = hit.memory
        tags = f" [{', '.join(memory.tags)}]" if memory.tags else ""
        lines = [f"{n}. {memory.content}", f"   Hash: {memory.content_hash}", f"   Created: {memory.created_at_iso}{tags}"]
        if query and query.strip() and mode != "exact":
            lines.append(f"   Score: {hit.similarity:.3f}")
        if debug and hit.why is not None:
            why = hit.why
            lines.append(f"   Debug: meaning {why.meaning:.3f}, words {why.words:.3f} (weight {why.words_weight:.2f}), "
                         f"identifier bonus {why.identifier_bonus:.2f}, matched: {', '.join(why.matched_words) or '-'}")
        blocks.append("\n".join(lines))
    header = f"Found {{}} memories (mode: {mode}) {asked}"
    kept: list[str] = []
    size = len(header) + 10 + sum(len(n) + 1 for n in notes)
    for block in blocks:
        if budget is not None and kept and size + len(block) + 2 > budget:
            break
        kept.append(block)
        size += len(block) + 2
    cut = [f"({len(blocks) - len(kept)} more not shown: max_response_chars)"] if len(kept) < len(blocks) else []
    return "\n\n".join([header.format(len(kept)), *kept, *cut, *notes]).strip(), hits[:len(kept)]


def _health_report(health: dict[str, Any]) -> dict[str, Any]:
    """The JSON mcp-memory-service's memory_health prints, from our health answer."""
    status = health["status"]
    return {
        "version": __version__,
        "validation": {"status": "healthy" if status == "healthy" else "unhealthy",
                       "message": "; ".join(health["problems"]) or "Database validation passed"},
        "statistics": {"backend": health["backend"], "total_memories": health["total_memories"],
                       "database_size_bytes": health["database_size_bytes"],
                       "database_path": health["details"].get("database_path")},
        "integrity": {"status": status, "problems": health["problems"]},
        "performance": {"storage": {"pragmas": health["pragmas"]}, "embedding": health["embedding"]},
        **({"sync": health["sync"]} if health.get("sync") else {}),
    }


def _json_text(out: BaseModel, first: tuple[str, ...] = (), leave_out: tuple[str, ...] = ()) -> str:
    data = {k: v for k, v in out.model_dump(mode="json").items() if v is not None}  # inner nulls stay
    ordered = {k: data[k] for k in first if k in data}
    ordered.update({k: v for k, v in data.items() if k not in ordered and k not in leave_out})
    return json.dumps(ordered, indent=2, ensure_ascii=False)

