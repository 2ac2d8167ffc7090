"""The association graph on a real SQLite database with the real embedder: discovery, hops, shortest
paths, rebuilds, cluster summaries, sync through the hybrid backend, and the tools through a real MCP
client."""

from __future__ import annotations

import numpy as np
import pytest
from mcp import Client

from server import graph
from server.storage.local import graph_table
from server.app import build_server
from server.errors import InvalidInputError, NotFoundError
from server.service import MemoryService, content_hash
from server.settings import parse_pragmas
from server.storage.local.sqlite_vec import SqliteVecStorage
from tests.support.hybrid import device, drained, local_rows, service, wait_until
from tests.support.database import reading, writing


@pytest.fixture
def svc(storage):
    return MemoryService(storage, 5000)


def associate(svc, a, b, similarity=0.8):
    content, tags, metadata = graph.association_memory_fields(a, b, similarity, ("semantic",))
    return svc.store(content, tags, "association", metadata)[0]


def edges(storage):
    with reading(storage.path) as conn:
        return sorted(conn.execute("SELECT source_hash, target_hash, similarity, association_hash FROM memory_graph"))


def rebuilt(storage):
    with writing(storage.path) as conn:
        graph_table.rebuild(conn)
    return edges(storage)


def open_store(path, embedder):
    store = SqliteVecStorage(path, parse_pragmas("busy_timeout=5000"), embedder)
    store.open()
    return store


@pytest.fixture
def chain(svc):
    """a - b - c, and d alone."""
    hashes = [svc.store(text)[0].content_hash for text in (
        "alpha memory about mountain hiking", "beta memory about river kayaking",
        "gamma memory about desert camping", "delta memory about opera singing")]
    associate(svc, hashes[0], hashes[1])
    associate(svc, hashes[1], hashes[2])
    return hashes


# -- discovery ---------------------------------------------------------------------------------------

def test_discovery_pairs_near_duplicates_only_and_records_them_as_memories_and_edges(svc, storage):
    cats = [svc.store(t)[0].content_hash for t in ("My cat sleeps on the warm windowsill every afternoon",
                                                    "Every afternoon the cat naps on the sunny window sill")]
    svc.store("Quarterly tax filing deadline for the small business")
    svc.store("Compiling the Linux kernel with custom configuration")
    stored = svc.discover_associations(min_similarity=0.5, max_similarity=0.99, limit=10)
    assert len(stored) == 1
    association = stored[0]
    low, high = sorted(cats)
    assert association.tags == ("association", "discovered") and association.memory_type == "association"
    assert association.metadata == {"similarity": association.metadata["similarity"],
                                    "connection_types": ["semantic"], "source_hash": low, "target_hash": high}
    assert 0.5 <= association.metadata["similarity"] <= 0.99
    assert association.content == f"Association between memory {low[:12]} and memory {high[:12]}"
    assert storage.get(association.content_hash) == association  # a memory like any other
    # the edge came from the normal store path, in the same transaction
    assert edges(storage) == [(low, high, association.metadata["similarity"], association.content_hash)]
    assert svc.discover_associations(min_similarity=0.5, max_similarity=0.99) == []  # known pairs are skipped


def test_discovery_respects_the_band_and_never_pairs_associations_or_summaries(svc, storage):
    svc.store("My cat sleeps on the warm windowsill every afternoon")
    svc.store("Every afternoon the cat naps on the sunny window sill")
    assert svc.discover_associations(min_similarity=0.98, max_similarity=1.0) == []  # similar, not that similar
    assert len(svc.discover_associations(min_similarity=0.5, max_similarity=0.99)) == 1
    assert svc.discover_associations(min_similarity=0.0, max_similarity=1.0, limit=100) == []  # only 2 memories


def test_discovery_validates_its_parameters_before_anything_is_written(svc, storage):
    svc.store("one memory")
    for band in ((0.9, 0.5), (-0.1, 0.5), (0.5, 1.5), (float("nan"), 0.9)):
        with pytest.raises(InvalidInputError, match="min_similarity <= max_similarity"):
            svc.discover_associations(*band)
    for limit in (0, 1001):
        with pytest.raises(InvalidInputError, match="limit must be between 1 and 1000"):
            svc.discover_associations(limit=limit)
    assert svc.list_memories()[1] == 1


def brute_force(hashes, vectors, low, high, exclude):
    pairs = []
    for i in range(len(hashes)):
        for j in range(i + 1, len(hashes)):
            score = float(np.dot(vectors[i], vectors[j]))
            a, b = sorted((hashes[i], hashes[j]))
            if low <= score <= high and (a, b) not in exclude:
                pairs.append((-score, a, b))
    return [(a, b, round(-score, 4)) for score, a, b in sorted(pairs)]


@pytest.mark.parametrize("block", [1, 7, 64, None])
def test_find_pairs_block_by_block_matches_the_pairwise_definition(block):
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(60, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    hashes = [content_hash(f"memory {i}") for i in range(60)]
    expected = brute_force(hashes, vectors, 0.3, 0.8, set())
    assert len(expected) > 40  # the band holds enough pairs for the limit to matter
    exclude = {expected[0][:2], expected[5][:2]}
    assert graph.find_pairs(hashes, vectors, 0.3, 0.8, 1000, set(), block) == expected
    assert graph.find_pairs(hashes, vectors, 0.3, 0.8, 10, set(), block) == expected[:10]
    assert graph.find_pairs(hashes, vectors, 0.3, 0.8, 10, exclude, block) == \
        brute_force(hashes, vectors, 0.3, 0.8, exclude)[:10]
    # a band that admits every pair still returns only the best `limit`
    assert graph.find_pairs(hashes, vectors, -1.0, 1.0, 3, set(), block) == \
        brute_force(hashes, vectors, -1.0, 1.0, set())[:3]


def test_find_pairs_on_nothing_or_one_memory():
    assert graph.find_pairs([], np.zeros((0, 0), np.float32), 0, 1, 5, set()) == []
    assert graph.find_pairs(["a" * 64], np.ones((1, 4), np.float32) / 2, 0, 1, 5, set()) == []


def test_association_fields_are_the_same_for_a_pair_whichever_way_round_and_whatever_the_score():
    a, b = content_hash("first"), content_hash("second")
    one = graph.association_memory_fields(a, b, 0.81234, ["semantic"])
    other = graph.association_memory_fields(b, a, 0.8129, ("semantic",))
    assert one[0] == other[0] and content_hash(one[0]) == content_hash(other[0])
    assert one[1] == ("association", "discovered")
    low, high = sorted((a, b))
    assert one[2] == {"similarity": 0.8123, "connection_types": ["semantic"], "source_hash": low, "target_hash": high}
    assert graph.association_memory_fields(a, content_hash("third"), 0.8, ["semantic"])[0] != one[0]


# -- queries -----------------------------------------------------------------------------------------

def test_hops_and_shortest_paths_follow_the_edges(svc, chain):
    a, b, c, d = chain
    assert [(m.content_hash, h) for m, h in svc.connected(a, 1)] == [(b, 1)]
    assert [(m.content_hash, h) for m, h in svc.connected(a, 2)] == [(b, 1), (c, 2)]
    assert [(m.content_hash, h) for m, h in svc.connected(c, 2)] == [(b, 1), (a, 2)]  # undirected
    assert svc.connected(d, 5) == []
    assert [m.content_hash for m in svc.shortest_path(a, c)] == [a, b, c]
    assert [m.content_hash for m in svc.shortest_path(c, a)] == [c, b, a]
    assert [m.content_hash for m in svc.shortest_path(a, a)] == [a]
    assert svc.shortest_path(a, c, max_hops=1) is None
    assert svc.shortest_path(a, d) is None


def test_a_shortest_path_takes_the_short_way_round_and_cycles_do_not_trap_the_walk(svc, chain):
    a, b, c, d = chain
    associate(svc, c, d)
    associate(svc, a, d)  # a cycle a-b-c-d-a: a - d is one hop, a - b - c - d would be three
    assert [m.content_hash for m in svc.shortest_path(a, d)] == [a, d]
    assert [m.content_hash for m in svc.shortest_path(b, d)] in ([b, a, d], [b, c, d])
    assert sorted((m.content_hash, h) for m, h in svc.connected(a, 10)) == sorted([(b, 1), (d, 1), (c, 2)])


def test_queries_on_an_unknown_memory_or_beyond_the_bounds_say_so(svc, chain):
    a = chain[0]
    with pytest.raises(NotFoundError):
        svc.connected("f" * 64)
    with pytest.raises(NotFoundError):
        svc.shortest_path(a, "f" * 64)
    with pytest.raises(InvalidInputError, match="content_hash must be 64 hex"):
        svc.connected("abc")
    for hops in (0, 11):
        with pytest.raises(InvalidInputError, match="max_hops must be between 1 and 10"):
            svc.connected(a, hops)
        with pytest.raises(InvalidInputError, match="max_hops must be between 1 and 10"):
            svc.shortest_path(a, chain[2], hops)


# -- keeping the table right -------------------------------------------------------------------------

def test_deleting_a_memory_removes_its_edges(svc, storage, chain):
    a, b, c, _ = chain
    svc.delete(b)
    assert svc.connected(a, 3) == [] and svc.shortest_path(a, c) is None
    assert edges(storage) == []


def test_deleting_an_association_memory_removes_its_edge_only(svc, storage, chain):
    a, b, c, _ = chain
    first = next(e for e in edges(storage) if {a, b} == set(e[:2]))
    svc.delete(first[3])
    assert [(e[0], e[1]) for e in edges(storage)] == [tuple(sorted((b, c)))]
    assert [m.content_hash for m, _ in svc.connected(a, 3)] == []


def test_two_association_memories_for_one_pair_the_smaller_hash_gives_the_edge_in_any_order(
        svc, storage, chain, embedder, tmp_path):
    a, b, _, _ = chain
    low, high = sorted((a, b))
    ours = next(e[3] for e in edges(storage) if e[:2] == (low, high))
    other = svc.store("a hand-made link between alpha and beta", ["association"], "association",
                      {"similarity": 0.5, "source_hash": high, "target_hash": low})[0]
    winner = min(other.content_hash, ours)
    assert [e for e in edges(storage) if e[:2] == (low, high)][0][3] == winner
    assert rebuilt(storage) == edges(storage)
    reverse = open_store(tmp_path / "reverse.db", embedder)
    try:  # the same memories arriving in the opposite order give the same table
        everything, _ = svc.list_memories(page=1, page_size=100)
        for memory in everything:  # newest first: the opposite of the order they were stored in here
            reverse.store_many([memory], record=False)
        assert edges(reverse) == edges(storage)
    finally:
        reverse.close()
    svc.delete(winner)  # the other description of the pair takes over
    survivor = ours if winner == other.content_hash else other.content_hash
    assert [e for e in edges(storage) if e[:2] == (low, high)][0][3] == survivor
    assert rebuilt(storage) == edges(storage)


def test_rebuild_restores_the_same_edges_here_and_on_another_database(svc, storage, chain, embedder, tmp_path):
    before = edges(storage)
    assert len(before) == 2
    with writing(storage.path) as conn:
        conn.execute("DELETE FROM memory_graph")
    assert svc.rebuild_graph()[0] == 2
    assert edges(storage) == before
    other = open_store(tmp_path / "other.db", embedder)
    try:
        everything, _ = svc.list_memories(page=1, page_size=100)
        associations_first = sorted(everything, key=lambda m: "association" not in m.tags)
        other.store_many(associations_first, record=False)  # edges before their ends exist, as a pull may do
        with writing(other.path) as conn:
            conn.execute("DELETE FROM memory_graph")
            assert graph_table.rebuild(conn) == 2
        assert edges(other) == before
        assert [m.content_hash for m in MemoryService(other, 5000).shortest_path(chain[0], chain[2])] == chain[:3]
    finally:
        other.close()


def test_rebuild_drops_edges_to_deleted_memories_and_keeps_those_whose_end_has_not_arrived(svc, storage, chain):
    a, b, c, d = chain
    pending = content_hash("a memory still on its way from the cloud")
    associate(svc, d, pending)
    svc.delete(c)
    assert rebuilt(storage) == edges(storage)  # the incremental path and the rebuild agree
    assert {tuple(e[:2]) for e in edges(storage)} == {tuple(sorted((a, b))), tuple(sorted((d, pending)))}
    assert svc.connected(d, 3) == []  # not followed until the memory is here
    associate(svc, pending, a)  # d - pending - a - b: no way through the missing memory yet
    assert svc.shortest_path(d, b) is None
    with reading(storage.path) as conn:
        assert graph_table.connected(conn, d, 3) == [] and graph_table.connected(conn, pending, 3) == []
    arrived = svc.store("A memory still on its way from the cloud")[0]
    assert arrived.content_hash == pending
    assert [(m.content_hash, h) for m, h in svc.connected(d, 3)] == [(pending, 1), (a, 2), (b, 3)]
    assert [m.content_hash for m in svc.shortest_path(d, b)] == [d, pending, a, b]
    assert rebuilt(storage) == edges(storage)


# -- clusters ----------------------------------------------------------------------------------------

def test_cluster_summaries_describe_each_connected_group_once(svc, chain):
    a, b, c, d = chain
    summaries = svc.summarize_clusters(min_size=3)
    assert len(summaries) == 1
    summary, created = summaries[0]
    assert created
    assert summary.tags == ("cluster", "summary") and summary.memory_type == "cluster_summary"
    assert summary.metadata == {"member_hashes": sorted([a, b, c]), "size": 3}
    assert summary.content.startswith("Cluster of 3 related memories: ")
    assert all(word in summary.content for word in ("hiking", "kayaking", "camping"))
    assert "opera" not in summary.content
    again = svc.summarize_clusters(min_size=3)
    assert [(m.content_hash, made) for m, made in again] == [(summary.content_hash, False)]  # same group, same memory
    assert svc.summarize_clusters(min_size=4) == []
    with pytest.raises(InvalidInputError, match="min_size must be between 2 and 1000"):
        svc.summarize_clusters(min_size=1)


def test_summaries_and_associations_never_join_the_graph_themselves(svc, storage, chain):
    svc.summarize_clusters(min_size=2)
    with reading(storage.path) as conn:
        hashes, _ = graph_table.memory_vectors(conn)
    assert sorted(hashes) == sorted(chain)


# -- hybrid: associations and summaries sync like any memory ----------------------------------------

def test_associations_and_summaries_reach_the_cloud_and_a_new_device_gets_the_same_graph(cloud, tmp_path, embedder):
    first = device(cloud, tmp_path / "first.db", embedder)
    first.open()
    try:
        svc = service(first)
        for text in ("The espresso machine needs descaling every month", "Descale the espresso machine monthly",
                     "Clean the espresso machine's milk frother weekly", "Migratory birds fly south in autumn"):
            svc.store(text)
        found = svc.discover_associations(min_similarity=0.5, max_similarity=0.99)
        assert len(found) >= 2
        summaries = svc.summarize_clusters(min_size=3)
        assert len(summaries) == 1
        first.force_sync()
        wait_until(lambda: drained(first), what="the outbox to drain")
        in_cloud = cloud.rows()
        assert {m.content_hash for m in found} | {summaries[0][0].content_hash} <= set(in_cloud)
        expected = edges(first.local)
    finally:
        first.close()
    fresh = device(cloud, tmp_path / "fresh.db", embedder)
    fresh.open()
    try:
        wait_until(lambda: local_rows(fresh) == cloud.rows(), what="the new device's first pull")
        wait_until(lambda: edges(fresh.local) == expected, what="the graph rebuilt after the first pull")
    finally:
        fresh.close()


def test_the_graph_needs_a_local_database(cloud):
    svc = MemoryService(cloud.storage(), 5000)
    calls = [lambda: svc.discover_associations(), lambda: svc.connected("a" * 64),
             lambda: svc.shortest_path("a" * 64, "b" * 64), svc.rebuild_graph, lambda: svc.summarize_clusters()]
    for call in calls:
        with pytest.raises(InvalidInputError, match="use sqlite_vec or hybrid"):
            call()
    svc.storage.close()


# -- the tools through a real MCP client -------------------------------------------------------------

@pytest.mark.anyio
async def test_the_graph_tools_through_a_real_client(settings, embedder):
    server, _ = build_server(settings, storage=SqliteVecStorage(settings.database_path, settings.sqlite_pragmas,
                                                                embedder))
    async with Client(server) as client:
        async def call(name, **arguments):
            result = await client.call_tool(name, arguments)
            assert not result.is_error, result.content[0].text
            return result.content[0].text, result.structured_content

        async def error(name, **arguments):
            result = await client.call_tool(name, arguments)
            assert result.is_error
            return result.content[0].text

        first = (await call("store_memory", content="The espresso machine needs descaling every month"))[1]["content_hash"]
        second = (await call("store_memory", content="Descale the espresso machine monthly"))[1]["content_hash"]
        third = (await call("store_memory", content="Clean the espresso machine's milk frother weekly"))[1]["content_hash"]
        await call("store_memory", content="Migratory birds fly south in autumn")

        text, found = await call("discover_associations", min_similarity=0.5, max_similarity=0.99)
        pairs = {frozenset((m["metadata"]["source_hash"], m["metadata"]["target_hash"])) for m in found["associations"]}
        assert found["stored"] == len(pairs) >= 2 and all(p <= {first, second, third} for p in pairs)
        assert text.startswith(f"{found['stored']} new association(s) stored")
        assert all(m["tags"] == ["association", "discovered"] for m in found["associations"])

        text, connected = await call("find_connected_memories", content_hash=first, max_hops=2)
        assert {m["memory"]["content_hash"] for m in connected["memories"]} == {second, third}
        assert "Descale the espresso machine monthly" in text

        text, path = await call("find_shortest_path", source_hash=second, target_hash=third)
        assert path["found"] and path["path"][0]["content_hash"] == second and path["path"][-1]["content_hash"] == third
        assert path["hops"] == len(path["path"]) - 1 >= 1

        _, rebuilt_out = await call("rebuild_graph")
        assert rebuilt_out["edges"] == found["stored"] and rebuilt_out["seconds"] >= 0

        text, clusters = await call("summarize_clusters", min_size=3)
        assert clusters["clusters"] == clusters["stored"] == 1
        assert clusters["summaries"][0]["metadata"] == {"member_hashes": sorted([first, second, third]), "size": 3}

        birds = (await call("store_memory", content="Migratory birds fly south in autumn"))[1]["content_hash"]
        _, none = await call("find_shortest_path", source_hash=first, target_hash=birds)
        assert none == {"found": False, "hops": None, "path": []}

        assert "No memory has content_hash" in await error("find_shortest_path", source_hash=first,
                                                           target_hash="0" * 64)
        assert "No memory has content_hash" in await error("find_connected_memories", content_hash="0" * 64)
        assert "max_hops must be between 1 and 10" in await error("find_connected_memories", content_hash=first,
                                                                  max_hops=0)
        assert "min_similarity <= max_similarity" in await error("discover_associations", min_similarity=0.9,
                                                                 max_similarity=0.2)
        assert "min_size must be between 2 and 1000" in await error("summarize_clusters", min_size=1)


def test_new_text_makes_a_new_memory_that_keeps_its_time_fields_and_associations(svc, chain):
    a, b, c, _ = chain
    before = svc.get(b)
    svc.update_metadata(b, tags=["outdoors"], memory_type="note", metadata={"trip": 3})
    new = svc.replace_content(b, "beta memory about river canoeing")
    assert new.content_hash != b and svc.storage.get(b) is None  # the old one is gone (a delete, which syncs)
    assert (new.created_at, new.tags, new.memory_type, dict(new.metadata)) == (
        before.created_at, ("outdoors",), "note", {"trip": 3})
    assert {m.content_hash for m, _ in svc.connected(new.content_hash, 1)} == {a, c}  # its associations followed
    assert svc.storage.graph.connected(b, 1) == []
    assert svc.replace_content(new.content_hash, "beta memory about river canoeing") == new  # same text: no change
    with pytest.raises(InvalidInputError, match="already has this text"):
        svc.replace_content(new.content_hash, svc.get(a).content)


def test_the_dashboards_figures_are_the_users_memories_with_the_systems_counted_apart(svc, chain):
    figures = svc.stats()  # chain: four memories of the user's, two associations between them
    assert (figures["memories"], figures["system_memories"]) == (4, 2)
    assert sum(n for _, n in figures["per_day"]) == 4
    assert "association" not in figures["tags"] and "association" not in figures["types"]
    svc.update_metadata(chain[0], tags=["hiking", "association"])  # a user's tag of the same name still counts
    figures = svc.stats()
    assert dict(figures["top_tags"])["association"] == 1 and dict(figures["top_tags"])["hiking"] == 1
