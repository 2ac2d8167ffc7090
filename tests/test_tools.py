"""Every tool through a real MCP client connected in memory to the real server."""

from __future__ import annotations

import pytest
from mcp import Client

from server.app import build_server
from server.backends import local_store

pytestmark = pytest.mark.anyio


@pytest.fixture
def server(settings, embedder):
    storage = local_store(settings, embedder=embedder)
    mcp_server, _ = build_server(settings, storage=storage)
    return mcp_server


async def call(client, name, **arguments):
    result = await client.call_tool(name, arguments)
    assert not result.is_error, result.content[0].text
    assert result.content[0].text  # readable text as well as structured content
    return result.structured_content


async def error_text(client, name, **arguments):
    result = await client.call_tool(name, arguments)
    assert result.is_error
    return result.content[0].text


async def test_store_retrieve_update_delete_round_trip(server):
    async with Client(server) as client:
        stored = await call(client, "store_memory", content="The deploy key lives in the vault", tags="ops,Secrets",
                            memory_type="fact", metadata={"source": "chat"})
        assert stored["created"] is True
        h = stored["content_hash"]
        again = await call(client, "store_memory", content="the deploy key lives in the vault ")
        assert again["created"] is False and again["content_hash"] == h

        found = await call(client, "retrieve_memory", query="where is the deployment key?", n_results=3)
        assert found["results"][0]["content_hash"] == h
        assert 0 < found["results"][0]["similarity"] <= 1

        updated = await call(client, "update_memory_metadata", content_hash=h, tags=["ops"], metadata={"x": 1})
        assert updated["memory"]["tags"] == ["ops"]
        assert updated["memory"]["metadata"] == {"source": "chat", "x": 1}

        by_tag = await call(client, "search_by_tag", tags=["ops"])
        assert by_tag["count"] == 1

        deleted = await call(client, "delete_memory", content_hash=h)
        assert deleted["deleted"] is True
        assert (await call(client, "list_memories"))["total"] == 0


async def test_recall_memory_understands_time_phrases(server):
    async with Client(server) as client:
        await call(client, "store_memory", content="Today I learned about SQLite WAL mode")
        today = await call(client, "recall_memory", query="today")
        assert today["count"] == 1
        topical = await call(client, "recall_memory", query="what did I store today about databases")
        assert topical["semantic_query"] and topical["count"] == 1
        assert (await call(client, "recall_memory", query="last year"))["count"] == 0


async def test_list_memories_pages_and_reports_has_more(server):
    async with Client(server) as client:
        for n in range(7):
            await call(client, "store_memory", content=f"memory {n}", tags=["batch"] if n < 5 else ["other"])
        page = await call(client, "list_memories", page=1, page_size=3, tag="batch")
        assert (page["total"], len(page["memories"]), page["has_more"]) == (5, 3, True)
        last = await call(client, "list_memories", page=2, page_size=3, tag="batch")
        assert (len(last["memories"]), last["has_more"]) == (2, False)


async def test_delete_by_tag_deletes_only_matching_memories(server):
    async with Client(server) as client:
        await call(client, "store_memory", content="one", tags=["tmp"])
        await call(client, "store_memory", content="two", tags=["tmp", "keep"])
        await call(client, "store_memory", content="three", tags=["keep"])
        out = await call(client, "delete_by_tag", tags="tmp")
        assert out["deleted_count"] == 2
        assert (await call(client, "list_memories"))["total"] == 1


async def test_health_reports_backend_counts_size_engine_and_effective_pragmas(server):
    async with Client(server) as client:
        await call(client, "store_memory", content="health probe")
        health = await call(client, "check_database_health")
        assert health["backend"] == "sqlite_vec"
        assert health["total_memories"] == 1
        assert health["database_size_bytes"] > 0
        assert health["embedding"]["model"] == "all-MiniLM-L6-v2"
        assert health["embedding"]["dimension"] == 384
        assert health["pragmas"]["journal_mode"] == "wal"
        assert health["pragmas"]["busy_timeout"] == 15000
        assert health["pragmas"]["cache_size"] == 20000


@pytest.mark.parametrize(
    ("tool", "arguments", "needle"),
    [
        ("store_memory", {"content": "   "}, "content is empty"),
        ("store_memory", {"content": "x" * 200_001}, "the limit is 200000"),
        ("store_memory", {"content": 42}, "content"),
        ("store_memory", {"content": "ok", "metadata": "not an object"}, "metadata"),
        ("retrieve_memory", {"query": "x", "n_results": 0}, "n_results must be between 1 and 100"),
        ("retrieve_memory", {"query": "x", "min_similarity": 2}, "min_similarity"),
        ("recall_memory", {"query": "the blue moon"}, "Try:"),
        ("delete_memory", {"content_hash": "0" * 64}, "No memory has content_hash"),
        ("delete_memory", {"content_hash": "abc"}, "64 hex characters"),
        ("update_memory_metadata", {"content_hash": "0" * 64, "tags": ["a"]}, "No memory has content_hash"),
        ("update_memory_metadata", {"content_hash": "0" * 64}, "Nothing to update"),
        ("search_by_tag", {"tags": " , "}, "at least one non-empty tag"),
        ("delete_by_tag", {"tags": []}, "at least one non-empty tag"),
        ("list_memories", {"page": 0}, "page starts at 1"),
    ],
)
async def test_bad_input_gives_a_tool_error_that_says_what_to_fix_and_changes_nothing(server, tool, arguments, needle):
    async with Client(server) as client:
        await call(client, "store_memory", content="existing memory")
        message = await error_text(client, tool, **arguments)
        assert needle in message
        assert (await call(client, "list_memories"))["total"] == 1


async def test_the_unified_profile_stores_searches_filters_updates_and_deletes_like_mcp_memory_service(tmp_path):
    from server.app import build_server
    from server.settings import settings_from_values

    settings = settings_from_values({"MCP_MEMORY_BASE_DIR": str(tmp_path), "MCP_MEMORY_TOOL_PROFILE": "unified"})
    server, _ = build_server(settings)
    async with Client(server) as client:
        stored = await client.call_tool("memory_store", {"content": "Error E1042 means the webhook secret rotated",
                                                         "metadata": {"tags": "work,billing", "type": "fix", "p": 1}})
        assert not stored.is_error, stored.content[0].text
        memory = stored.structured_content["memory"]
        assert (memory["tags"], memory["memory_type"], memory["metadata"]) == (["work", "billing"], "fix", {"p": 1})
        await client.call_tool("memory_store", {"content": "Lentil soup needs cumin", "tags": ["personal"]})
        found = await client.call_tool("memory_search", {"query": "what does E1042 mean?", "limit": 1})
        assert "E1042" in found.structured_content["results"][0]["content"]
        tagged = await client.call_tool("memory_search", {"query": "soup", "tags": ["work", "personal"],
                                                          "tag_match": "all"})
        assert tagged.structured_content["count"] == 0
        exact = await client.call_tool("memory_search", {"query": "CUMIN", "mode": "exact"})
        assert [r["content"] for r in exact.structured_content["results"]] == ["Lentil soup needs cumin"]
        recent = await client.call_tool("memory_search", {"time_expr": "today", "tags": "billing"})
        assert recent.structured_content["count"] == 1
        future = await client.call_tool("memory_search", {"after": "2999-01-01"})
        assert future.structured_content["count"] == 0
        listed = await client.call_tool("memory_list", {"tags": ["personal"]})
        assert listed.structured_content["total"] == 1
        updated = await client.call_tool("memory_update", {"content_hash": memory["content_hash"],
                                                           "updates": {"tags": ["work"], "memory_type": "note"}})
        assert updated.structured_content["memory"]["tags"] == ["work"]
        bad = await client.call_tool("memory_update", {"content_hash": memory["content_hash"],
                                                       "updates": {"memory_type": 5}})
        assert bad.is_error
        would = await client.call_tool("memory_delete", {"tags": "personal", "dry_run": True})
        assert would.structured_content["deleted_count"] == 1
        assert (await client.call_tool("memory_list", {})).structured_content["total"] == 2
        gone = await client.call_tool("memory_delete", {"tags": "personal"})
        assert gone.structured_content["deleted_count"] == 1
        nothing = await client.call_tool("memory_delete", {})
        assert nothing.is_error and "content_hash" in nothing.content[0].text
        health = await client.call_tool("memory_health", {})
        assert health.structured_content["total_memories"] == 1
