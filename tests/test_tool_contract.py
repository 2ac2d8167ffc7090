"""Pins every tool's name, parameters and annotations: a change here is a change for every client."""

import pytest
from mcp import Client

from server.app import build_server

pytestmark = pytest.mark.anyio

CONTRACT = {
    "store_memory": ({"content"}, {"tags", "memory_type", "metadata"}, "additive"),
    "retrieve_memory": ({"query"}, {"n_results", "tags", "min_similarity"}, "read-only"),
    "recall_memory": ({"query"}, {"n_results"}, "read-only"),
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
}


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def test_every_tool_has_its_pinned_name_parameters_annotations_and_output_schema(settings):
    server, _ = build_server(settings)
    async with Client(server) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == set(CONTRACT)
    for name, (required, optional, kind) in CONTRACT.items():
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
