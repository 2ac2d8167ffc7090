"""The association graph on a real SQLite database with the real embedder: discovery, hops, shortest
paths, rebuilds, cluster summaries, and the tools through a real MCP client."""

from __future__ import annotations

import pytest
from mcp import Client

from server import graph
from server.app import build_server
from server.service import MemoryService
from server.settings import parse_pragmas
from server.storage.sqlite_vec import SqliteVecStorage


@pytest.fixture
def svc(storage):
    return MemoryService(storage, 5000)


def associate(svc, a, b, similarity=0.8):
    content, tags, metadata = graph.association_fields(svc.storage.get(a), svc.storage.get(b), similarity)
    return svc.store(content, tags, "association", metadata)[0]


def edges(storage):
    with storage.read_transaction() as conn:
        return sorted(conn.execute("SELECT source_hash, target_hash, similarity, association_hash FROM memory_graph"))


@pytest.fixture
def chain(svc):
    """a - b - c, and d alone."""
    hashes = [svc.store(text)[0].content_hash for text in (
        "alpha memory about mountain hiking", "beta memory about river kayaking",
        "gamma memory about desert camping", "delta memory about opera singing")]
    associate(svc, hashes[0], hashes[1])
    associate(svc, hashes[1], hashes[2])
    return hashes


def test_discovery_pairs_related_memories_only_and_records_them_as_memories_and_edges(svc, storage):
    cats = [svc.store(t)[0].content_hash for t in ("My cat sleeps on the warm windowsill every afternoon",
                                                    "Every afternoon the cat naps on the sunny window sill")]
    svc.store("Quarterly tax filing deadline for the small business")
    svc.store("Compiling the Linux kernel with custom configuration")
    stored = svc.discover_associations(min_similarity=0.5, max_similarity=0.99, limit=10)
    assert len(stored) == 1
    association = stored[0]
    assert association.tags == ("association", "discovered")
    assert set(association.metadata) == {"similarity", "connection_types", "source_hash", "target_hash"}
    assert {association.metadata["source_hash"], association.metadata["target_hash"]} == set(cats)
    assert 0.5 <= association.metadata["similarity"] <= 0.99
    assert edges(storage) == [(*sorted(cats), association.metadata["similarity"], association.content_hash)]
    assert svc.discover_associations(min_similarity=0.5, max_similarity=0.99) == []  # known pairs are skipped


def test_hops_and_shortest_paths_follow_the_edges(svc, chain):
    a, b, c, d = chain
    assert [(m.content_hash, h) for m, h in svc.connected(a, 1)] == [(b, 1)]
    assert [(m.content_hash, h) for m, h in svc.connected(a, 2)] == [(b, 1), (c, 2)]
    assert [m.content_hash for m in svc.shortest_path(a, c)] == [a, b, c]
    assert svc.shortest_path(a, c, max_hops=1) is None
    assert svc.shortest_path(a, d) is None


def test_a_shortest_path_takes_the_short_way_round(svc, chain):
    a, b, c, d = chain
    associate(svc, c, d)
    associate(svc, a, d)  # a - d is one hop; a - b - c - d would be three
    assert [m.content_hash for m in svc.shortest_path(a, d)] == [a, d]
    assert [m.content_hash for m in svc.shortest_path(b, d)] in ([b, a, d], [b, c, d])


def test_deleting_a_memory_removes_its_edges(svc, storage, chain):
    a, b, c, _ = chain
    svc.delete(b)
    assert svc.connected(a, 3) == [] and svc.shortest_path(a, c) is None
    assert all(b not in edge[:2] for edge in edges(storage))


def test_rebuild_restores_the_same_edges_here_and_on_another_database(svc, storage, chain, embedder, tmp_path):
    before = edges(storage)
    with storage.write_transaction() as conn:
        conn.execute("DELETE FROM memory_graph")
    assert svc.rebuild_graph()[0] == 2
    assert edges(storage) == before
    other = SqliteVecStorage(tmp_path / "other.db", parse_pragmas("busy_timeout=5000"), embedder)
    other.open()
    try:
        everything, _ = svc.list(page=1, page_size=100)
        associations_first = sorted(everything, key=lambda m: "association" not in m.tags)
        other.store_many(associations_first, record=False)  # edges before their ends exist, as a pull may do
        with other.write_transaction() as conn:
            assert graph.rebuild(conn) == 2
        assert edges(other) == before
    finally:
        other.close()


def test_cluster_summaries_describe_each_connected_group(svc, chain):
    a, b, c, d = chain
    summaries = svc.summarize_clusters(min_size=3)
    assert len(summaries) == 1
    summary = summaries[0]
    assert summary.tags == ("cluster", "summary") and summary.memory_type == "cluster_summary"
    assert summary.metadata == {"member_hashes": sorted([a, b, c]), "size": 3}
    assert "Cluster of 3 related memories" in summary.content
    assert svc.summarize_clusters(min_size=3)[0].content_hash == summary.content_hash  # same group, same memory


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_the_graph_tools_through_a_real_client(settings, embedder):
    server, _ = build_server(settings, storage=SqliteVecStorage(settings.database_path, settings.sqlite_pragmas,
                                                                embedder))
    async with Client(server) as client:
        async def call(name, **arguments):
            result = await client.call_tool(name, arguments)
            assert not result.is_error, result.content[0].text
            return result.structured_content

        first = (await call("store_memory", content="The espresso machine needs descaling every month"))["content_hash"]
        second = (await call("store_memory", content="Descale the espresso machine monthly"))["content_hash"]
        await call("store_memory", content="Migratory birds fly south in autumn")
        found = await call("discover_associations", min_similarity=0.5, max_similarity=0.99)
        assert found["stored"] == 1
        connected = await call("find_connected_memories", content_hash=first)
        assert [m["memory"]["content_hash"] for m in connected["memories"]] == [second]
        path = await call("find_shortest_path", source_hash=first, target_hash=second)
        assert path["found"] and path["hops"] == 1
        assert (await call("rebuild_graph"))["edges"] == 1
        bad = await client.call_tool("find_shortest_path", {"source_hash": first, "target_hash": "0" * 64})
        assert bad.is_error and "No memory has content_hash" in bad.content[0].text
        hops = await client.call_tool("find_connected_memories", {"content_hash": first, "max_hops": 0})
        assert hops.is_error and "max_hops must be between 1 and 10" in hops.content[0].text


def test_the_graph_needs_a_local_database(tmp_path):
    from server.errors import InvalidInputError
    from tests.hybrid_support import Cloud

    cloud = Cloud(tmp_path)
    try:
        svc = MemoryService(cloud.storage(), 5000)
        with pytest.raises(InvalidInputError, match="use sqlite_vec or hybrid"):
            svc.connected("a" * 64)
        svc.storage.close()
    finally:
        cloud.stop()
