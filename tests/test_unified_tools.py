"""The unified profile through a real MCP client: mcp-memory-service 12.4.0's tool names, its parameters
(taken even when there is nothing here for them to act on) and its answer shapes (text or JSON), so a prompt
written for it reads our answers the same way."""

from __future__ import annotations

import json

import pytest
from mcp import Client

from server.app import build_server
from server.settings import settings_from_values
from server.backends import local_store

pytestmark = pytest.mark.anyio


@pytest.fixture
def server(tmp_path, embedder):
    settings = settings_from_values({"MCP_MEMORY_BASE_DIR": str(tmp_path), "MCP_MEMORY_TOOL_PROFILE": "unified"})
    storage = local_store(settings, embedder=embedder)
    return build_server(settings, storage=storage)[0]


async def answer(client, name, **arguments):
    result = await client.call_tool(name, arguments)
    assert not result.is_error, result.content[0].text
    return result.content[0].text, result.structured_content


async def refused(client, name, **arguments) -> str:
    result = await client.call_tool(name, arguments)
    assert result.is_error
    return result.content[0].text


async def store(client, content, **arguments) -> str:
    return (await answer(client, "memory_store", content=content, **arguments))[1]["content_hash"]


async def test_memory_search_answers_in_its_text_shape_and_takes_its_parameters(server):
    async with Client(server) as client:
        first = await store(client, "The webhook secret is rotated every 90 days", metadata={"tags": "ops,billing"})
        await store(client, "Rotate webhook secrets from the billing console")
        await store(client, "Lentil soup needs cumin")
        text, out = await answer(client, "memory_search", query="webhook secret", limit=2)
        lines = text.splitlines()
        assert lines[0] == "Found 2 memories (mode: hybrid) for query: 'webhook secret'"
        assert lines[2] == "1. The webhook secret is rotated every 90 days"
        assert lines[3] == f"   Hash: {first}"
        assert lines[4].startswith("   Created: ") and lines[4].endswith(" [ops, billing]")
        assert out["count"] == 2 and out["results"][0]["content_hash"] == first
        none, _ = await answer(client, "memory_search", query="zebra stripes", mode="exact")
        assert none == "No memories found for query: 'zebra stripes'"
        # Its other parameters are taken; what has nothing to act on here says so once.
        text, out = await answer(client, "memory_search", query="webhook secret", quality_boost=0.5, fallback=True,
                                 include_superseded=True, include_beliefs=True, summarize=True, include_debug=True,
                                 store="all")
        assert "   Debug: meaning " in text and "matched: webhook, secret" in text
        assert any("quality_boost" in note for note in out["notes"]) and any("summarize" in n for n in out["notes"])
        cut, out = await answer(client, "memory_search", query="webhook secret", max_response_chars=250)
        assert len(cut) <= 250 + 60 and out["count"] == 1 and "more not shown: max_response_chars" in cut
        assert "entity graph" in await refused(client, "memory_search", query="x", entity="Alice")
        assert "one store" in await refused(client, "memory_search", query="x", store="work")
        assert "unknown argument" in await refused(client, "memory_search", query="x", n_results=3)


async def test_ranked_mode_blends_relevance_with_recency_by_the_weights_given(server):
    async with Client(server) as client:
        older = await store(client, "The webhook secret is rotated every 90 days")
        newer = await store(client, "Webhook secret rotation happens quarterly")
        by_time, out = await answer(client, "memory_search", query="webhook secret rotation", mode="ranked",
                                    ranking_weights={"time_decay": 1.0})
        assert [r["content_hash"] for r in out["results"]][:2] == [newer, older]
        _, by_meaning = await answer(client, "memory_search", query="webhook secret rotation", mode="ranked",
                                     ranking_weights={"semantic": 1.0, "quality": 0.5})
        _, hybrid = await answer(client, "memory_search", query="webhook secret rotation")
        assert [r["content_hash"] for r in by_meaning["results"]] == [r["content_hash"] for r in hybrid["results"]]
        assert any("quality" in note for note in by_meaning["notes"])
        assert "semantic or time_decay" in await refused(client, "memory_search", query="x", mode="ranked",
                                                          ranking_weights={"quality": 1.0})


async def test_memory_list_health_and_stats_answer_in_its_json_shapes(server):
    async with Client(server) as client:
        for n in range(3):
            await store(client, f"note number {n}", tags=["work"], agent_id="bot" if n else None)
        text, _ = await answer(client, "memory_list", page=1, page_size=2)
        listed = json.loads(text)
        assert list(listed)[:6] == ["memories", "page", "page_size", "total", "total_pages", "has_more"]
        assert (listed["total"], listed["total_pages"], listed["has_more"]) == (3, 2, True)
        assert set(listed["memories"][0]) >= {"content", "content_hash", "tags", "memory_type", "metadata",
                                              "created_at", "updated_at", "created_at_iso", "updated_at_iso"}
        _, mine = await answer(client, "memory_list", agent_id="bot")
        assert mine["total"] == 2 and mine["memories"][0]["metadata"]["agent_id"] == "bot"
        _, old = await answer(client, "memory_list", stale_days=1)
        assert old["total"] == 0
        text, out = await answer(client, "memory_health")
        head, _, body = text.partition("\n")
        assert head == "Database Health Check Results:" and out["total_memories"] == 3
        report = json.loads(body)
        assert report["validation"]["status"] == "healthy" and report["statistics"]["total_memories"] == 3
        text, _ = await answer(client, "memory_stats")
        stats = json.loads(text)
        assert stats["backend_info"]["storage_backend"] == "sqlite_vec" and stats["total_memories"] == 3
        assert ["work", 3] in stats["top_tags"]
        text, out = await answer(client, "memory_cleanup")
        assert out["removed"] == 0 and "0 were removed" in text


async def test_memory_update_merges_its_custom_fields_and_refuses_versions_without_changing_anything(server):
    async with Client(server) as client:
        h = await store(client, "The office wifi is called Hermes", tags=["office"])
        _, out = await answer(client, "memory_update", content_hash=h, updates={"tags": ["home"], "colour": "red",
                                                                                 "metadata": {"floor": 2}})
        assert out["memory"]["tags"] == ["home"] and out["memory"]["metadata"] == {"colour": "red", "floor": 2}
        assert "not supported" in await refused(client, "memory_update", content_hash=h,
                                                updates={"content": "new text"}, versioned=True)
        text, _ = await answer(client, "memory_delete", tags="home", dry_run=True)
        assert text == f"Would delete 1 memories\nHashes: {h}"


async def test_memory_consolidate_runs_reports_and_merges_with_the_originals_gone_only_after(server):
    async with Client(server) as client:
        a = await store(client, "The webhook secret is rotated every 90 days", tags=["ops"])
        b = await store(client, "Webhook secrets rotate each quarter", tags=["billing"], memory_type="fact")
        c = await store(client, "Rotate the webhook secret from the billing console")
        text, out = await answer(client, "memory_consolidate", action="run", time_horizon="weekly")
        assert out["associations_stored"] >= 2 and text.startswith("Consolidation done:")
        status, _ = await answer(client, "memory_consolidate", action="status")
        assert "Associations: " in status and "no scheduler" in status
        paused, _ = await answer(client, "memory_consolidate", action="pause")
        assert "nothing to pause" in paused
        _, graph = await answer(client, "memory_graph", action="subgraph", hash=a, radius=1)
        assert graph["nodes"][0] == a and graph["edge_count"] == len(graph["edges"]) >= 1
        text, _ = await answer(client, "memory_graph", action="connected", hash=a)
        assert json.loads(text)["connected"][0]["distance"] == 1
        before = (await answer(client, "memory_list"))[1]["total"]
        assert "No memory has content_hash" in await refused(client, "memory_consolidate", action="merge",
                                                            content_hashes=[a, "0" * 64], merged_content="x")
        assert (await answer(client, "memory_list"))[1]["total"] == before  # refused before anything changed
        _, out = await answer(client, "memory_consolidate", action="merge", content_hashes=[a, b],
                              merged_content="The webhook secret rotates every quarter (90 days)")
        merged = out["merged"]
        assert sorted(out["deleted_hashes"]) == sorted([a, b]) and set(merged["tags"]) == {"ops", "billing"}
        assert merged["metadata"]["merged_from"] == [a, b] and merged["memory_type"] == "fact"
        _, found = await answer(client, "memory_search", query="webhook secret rotates", limit=10)
        hashes = {r["content_hash"] for r in found["results"]}
        assert merged["content_hash"] in hashes and c in hashes and not hashes & {a, b}


async def test_mistake_notes_count_repeats_search_update_and_delete_only_notes(server):
    async with Client(server) as client:
        note = dict(error_pattern="ImportError: sqlite_vec", context_signature="running the tests",
                    incorrect_action="pip install sqlite-vec globally", correct_action="use .venv/bin/pip")
        text, out = await answer(client, "mistake_note_add", **note)
        assert json.loads(text)["status"] == "created" and out["failure_count"] == 1
        again, out2 = await answer(client, "mistake_note_add", **{**note, "error_pattern": "importerror:  SQLITE_VEC"})
        assert (out2["status"], out2["content_hash"], out2["failure_count"]) == ("updated", out["content_hash"], 2)
        assert json.loads(again)["message"] == "Existing mistake note updated (seen 2 times)"
        other = await store(client, "Lentil soup needs cumin")
        text, found = await answer(client, "mistake_note_search", query="sqlite_vec will not import")
        assert json.loads(text)["count"] == found["count"] == 1
        hit = found["notes"][0]
        assert hit["failure_count"] == 2 and hit["content"].startswith("Pattern: ImportError: sqlite_vec\nContext: ")
        _, changed = await answer(client, "mistake_note_update", content_hash=hit["content_hash"],
                                  correct_action="run bash tests/run")
        assert changed["content_hash"] != hit["content_hash"]
        error = json.loads(await refused(client, "mistake_note_delete", content_hash=other))
        assert error == {"status": "error", "message": f"{other} is not a mistake note (type=None)."}
        assert json.loads(await refused(client, "mistake_note_update", content_hash=changed["content_hash"]))[
            "message"].startswith("No fields to update")
        _, gone = await answer(client, "mistake_note_delete", content_hash=changed["content_hash"])
        assert gone["status"] == "deleted"
        assert (await answer(client, "memory_list"))[1]["total"] == 1  # the soup stays


async def test_memory_store_session_keeps_one_record_per_session_without_secrets(server):
    turns = [{"role": "user", "content": "Set up the deploy. The token is ghp_abcdefghijklmnopqrstuvwxyz0123."},
             {"role": "assistant", "content": "Done. We decided to use blue-green deploys instead of rolling ones."},
             {"role": "user", "content": "Remember that the deploy window is Tuesday 14:00 UTC."},
             {"role": "assistant", "content": "Noted."}]
    async with Client(server) as client:
        text, out = await answer(client, "memory_store_session", turns=turns, session_id="abc",
                                 tags="ops", metadata={"project": "shop"})
        assert text.startswith("Session stored successfully (hash: ") and "1 remembered" in text
        assert out["session_id"] == "abc" and not out["updated"] and len(out["remembered"]) == 1
        again, out2 = await answer(client, "memory_store_session", turns=[*turns, {"role": "user", "content": "Thanks"}],
                                   session_id="abc", metadata={"project": "shop"})
        assert again.startswith("Session record updated") and out2["updated"]
        listed = json.loads((await answer(client, "memory_list", tags=["session:abc"]))[0])
        assert listed["total"] == 1  # the same session again: its record updated, not another one
        record = listed["memories"][0]
        assert {"session", "shop", "session:abc"} <= set(record["tags"]) and "ghp_" not in record["content"]
        assert "blue-green" in record["content"] and "2 request(s)" not in record["content"]
        fact = json.loads((await answer(client, "memory_list", tags=["remember"]))[0])["memories"]
        assert [m["content"] for m in fact] == ["The deploy window is Tuesday 14:00 UTC."]
        empty, out3 = await answer(client, "memory_store_session", turns=[{"role": "assistant", "content": "Hi"}])
        assert empty.startswith("Nothing to keep") and out3["content_hash"] is None
