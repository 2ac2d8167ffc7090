"""Pins every tool's name, parameters and annotations: a change here is a change for every client."""

import pytest
from mcp import Client

from server.app import build_server

pytestmark = pytest.mark.anyio

CONTRACT = {
    "store_memory": ({"content"}, {"tags", "memory_type", "metadata"}, "additive"),
    "retrieve_memory": ({"query"}, {"n_results", "tags", "min_similarity", "mode"}, "read-only"),
    "recall_memory": ({"query"}, {"n_results", "mode"}, "read-only"),
    "search_by_tag": ({"tags"}, {"match_all", "limit"}, "read-only"),
    "list_memories": (set(), {"page", "page_size", "tag", "memory_type"}, "read-only"),
    "update_memory_metadata": ({"content_hash"}, {"tags", "memory_type", "metadata"}, "destructive"),
    "delete_memory": ({"content_hash"}, set(), "destructive"),
    "delete_by_tag": ({"tags"}, {"match_all"}, "destructive"),
    "check_database_health": (set(), set(), "read-only"),
    "discover_associations": (set(), {"min_similarity", "max_similarity", "limit"}, "additive"),
    "find_connected_memories": ({"content_hash"}, {"max_hops"}, "read-only"),
    "find_shortest_path": ({"source_hash", "target_hash"}, {"max_hops"}, "read-only"),
    "rebuild_graph": (set(), set(), "additive"),
    "summarize_clusters": (set(), {"min_size"}, "additive"),
    "sync_status": (set(), set(), "read-only"),
    "force_sync": (set(), set(), "syncs"),
    "ingest_document": (set(), {"file_path", "directory_path", "tags", "recursive", "chunk_size", "chunk_overlap",
                                "dry_run"}, "additive"),
}


async def test_every_tool_has_its_pinned_name_parameters_annotations_and_output_schema(settings):
    await check_contract(settings, CONTRACT)


async def check_contract(settings, contract: dict) -> dict:
    server, _ = build_server(settings)
    async with Client(server) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == set(contract)  # one profile listed at a time
    for name, (required, optional, kind) in contract.items():
        tool = tools[name]
        schema = tool.input_schema
        assert set(schema.get("required", [])) == required, name
        assert set(schema["properties"]) == required | optional, name
        assert tool.description, name
        assert tool.output_schema is not None, name
        hints = tool.annotations
        assert hints.read_only_hint is (kind == "read-only"), name
        assert hints.destructive_hint is (kind == "destructive"), name
        assert hints.open_world_hint is (kind == "syncs"), name  # only force_sync reaches outside
    return tools


GRAPH_OUTPUTS = {
    "discover_associations": {"stored", "associations"},
    "find_connected_memories": {"content_hash", "max_hops", "count", "memories"},
    "find_shortest_path": {"found", "hops", "path"},
    "rebuild_graph": {"edges", "seconds"},
    "summarize_clusters": {"clusters", "stored", "summaries"},
}


async def test_the_graph_tools_publish_their_output_fields(settings):
    server, _ = build_server(settings)
    async with Client(server) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    for name, fields in GRAPH_OUTPUTS.items():
        assert set(tools[name].output_schema["properties"]) == fields, name
        assert tools[name].annotations.idempotent_hint is True, name


SHARED = {name: CONTRACT[name] for name in ("discover_associations", "rebuild_graph", "summarize_clusters",
                                           "sync_status", "force_sync")}
# MCP_MEMORY_TOOL_PROFILE=unified: mcp-memory-service 12.4.0's names and parameters, for every tool whose
# capability this project has (docs/coming-from-mcp-memory-service.md lists all 26).
UNIFIED = {
    "memory_store_session": ({"turns"}, {"session_id", "tags", "metadata"}, "additive"),
    "memory_ingest": (set(), {"file_path", "directory_path", "tags", "recursive", "chunk_size", "chunk_overlap",
                              "dry_run"}, "additive"),
    "memory_store": ({"content"}, {"metadata", "tags", "memory_type", "conversation_id", "agent_id", "store"},
                     "additive"),
    "memory_search": (set(), {"query", "mode", "limit", "tags", "tag_match", "time_expr", "after", "before",
                              "ranking_weights", "quality_boost", "include_debug", "max_response_chars",
                              "include_superseded", "fallback", "include_beliefs", "summarize", "entity", "agent_id",
                              "store"}, "read-only"),
    "memory_list": (set(), {"page", "page_size", "tags", "tag_match", "memory_type", "stale_days", "agent_id",
                            "store"}, "read-only"),
    "memory_delete": (set(), {"content_hash", "tags", "tag_match", "after", "before", "dry_run", "store"},
                      "destructive"),
    "memory_update": ({"content_hash", "updates"}, {"preserve_timestamps", "versioned"}, "destructive"),
    "memory_health": (set(), set(), "read-only"),
    "memory_stats": (set(), set(), "read-only"),
    "memory_cleanup": (set(), set(), "destructive"),
    "memory_consolidate": ({"action"}, {"time_horizon", "immediate", "content_hashes", "merged_content", "tags",
                                        "memory_type"}, "additive"),
    "memory_graph": ({"action"}, {"hash", "hash1", "hash2", "max_hops", "max_depth", "radius"}, "read-only"),
    "mistake_note_add": ({"error_pattern", "context_signature", "incorrect_action", "correct_action"}, set(),
                         "additive"),
    "mistake_note_search": ({"query"}, {"limit"}, "read-only"),
    "mistake_note_update": ({"content_hash"}, {"failure_count", "error_pattern", "context_signature",
                                               "incorrect_action", "correct_action"}, "destructive"),
    "mistake_note_delete": ({"content_hash"}, set(), "destructive"),
    **SHARED,
}


async def test_the_unified_profile_lists_only_its_own_names_with_pinned_parameters(tmp_path):
    from server.settings import settings_from_values

    settings = settings_from_values({"MCP_MEMORY_BASE_DIR": str(tmp_path), "MCP_MEMORY_TOOL_PROFILE": "unified"})
    tools = await check_contract(settings, UNIFIED)
    modes = tools["memory_search"].input_schema["properties"]["mode"]
    assert set(modes.get("enum", [])) == {"semantic", "lexical", "exact", "hybrid", "ranked"}
    assert modes["default"] == "hybrid"
