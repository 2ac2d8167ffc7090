"""Long memories on cloudflare and hybrid: one D1 row with the whole text, one vector per part (ids that fit
Vectorize's 64 bytes, linked in memory_parts), stored, synced, found by their end, and deleted as one."""

from __future__ import annotations

import time

import pytest

from server.cloudflare.errors import CloudflareError
from server.errors import InvalidInputError
from server.service import MemoryService, content_hash
from server.settings import DEFAULT_MAX_CONTENT_LENGTH
from server.storage.base import MemoryFilter
from server.storage.cloud.parts import PART_LENGTH, cut
from tests.support.cloudflare_emulator import Fault
from tests.support.hybrid import Cloud, device, local_rows, wait_until

CHAPTERS = (  # one topic per chapter, no word shared with the question except in the risotto one
    "Minute: the quarterly budget review covered invoices, travel claims and vendor contracts.",
    "Garden: the tomatoes want compost, the beans want poles and the hedge wants trimming.",
    "Dinner plan: the saffron risotto needs arborio rice, saffron threads and a slow stir.",
    "Car: the tyres are worn, the brakes squeal and the oil change is overdue.",
)
CHAPTER = 1800  # characters: a little less than a part, so each part is mostly one chapter


def long_text(n_chars: int = 23_000) -> str:
    """Chapters on different topics, in turn: the first risotto chapter starts at about 3,600 characters."""
    out, n = [], 0
    while n < n_chars:
        sentence = CHAPTERS[len(out) % len(CHAPTERS)]
        chapter = " ".join([sentence] * (min(CHAPTER, n_chars - n) // (len(sentence) + 1) + 1))
        out.append(chapter)
        n += len(chapter) + 1
    return "\n".join(out)


@pytest.fixture
def cloud(cloud):
    cloud.emulator.mutation_delay = 1.0  # Vectorize applies writes late
    return cloud


def d1(cloud: Cloud, sql: str) -> list[tuple]:
    return cloud.emulator.databases[cloud.database][1].execute(sql).fetchall()


def applied(store) -> bool:
    """Vectorize has processed this process's last write (an info call also lets the emulator catch up)."""
    return store.client.index_info("mcp-memory-index")["processedUpToMutation"] == store.unindexed.last_mutation


def test_a_long_memory_is_one_row_with_a_vector_per_part_found_by_its_end_and_deleted_whole(cloud):
    store = cloud.storage()
    store.open()
    svc = MemoryService(store, DEFAULT_MAX_CONTENT_LENGTH)
    try:
        for i in range(3):
            svc.store(f"short note {i}: the car needs new tyres before winter", tags=["car"])
        text = long_text()
        memory, created = svc.store(text, tags=["plans"])
        assert created and memory.content_hash == content_hash(text)
        assert d1(cloud, "SELECT count(*), length(content) FROM memories WHERE content_hash = "
                         f"'{memory.content_hash}'") == [(1, len(text))]
        links = d1(cloud, "SELECT vector_id, part, start, stop FROM memory_parts ORDER BY part")
        count = len(cut(text, PART_LENGTH))
        assert count >= 12 and [part for _, part, _, _ in links] == list(range(1, count))  # part 0: the hash's
        assert links[-1][3] == len(text) and all(len(v.encode()) <= 64 for v, *_ in links)

        def found(mode: str, where: MemoryFilter = MemoryFilter()) -> list:
            return store.search("saffron risotto with arborio", 3, where, mode=mode)

        early = found("semantic")  # before Vectorize serves the vectors: this process's own writes
        assert early[0].memory.content_hash == memory.content_hash and early[0].memory.content == text
        wait_until(lambda: applied(store), what="Vectorize applies the writes")
        assert len(cloud.vector_ids()) == 3 + count
        store.unindexed.settle(store.unindexed.last_mutation)
        for mode in ("semantic", "hybrid", "lexical"):
            best = found(mode)[0]
            assert best.memory.content_hash == memory.content_hash, mode
            assert best.similarity > 0.15, mode  # by its risotto part: part 0 shares no word with the question
        assert found("semantic", MemoryFilter(tags=("plans", "car")))[0].memory.content_hash == memory.content_hash

        svc.delete(memory.content_hash)
        wait_until(lambda: len(cloud.vector_ids()) == 3, what="the deletes applied")
        assert d1(cloud, "SELECT count(*) FROM memory_parts") == [(0,)]
        assert all(m.memory.content_hash != memory.content_hash for m in found("semantic"))
        with pytest.raises(InvalidInputError, match="the limit is 200000"):
            svc.store("x" * (DEFAULT_MAX_CONTENT_LENGTH + 1))
    finally:
        store.close()


def test_a_page_of_results_is_full_though_one_long_memory_matches_with_many_parts(cloud):
    cloud.emulator.mutation_delay = 0.0
    store = cloud.storage()
    store.open()
    svc = MemoryService(store, DEFAULT_MAX_CONTENT_LENGTH)
    try:
        svc.store(" ".join([CHAPTERS[2]] * 400))  # 36,000 characters of risotto: 18 parts, all alike
        for i in range(5):
            svc.store(f"Note {i}: risotto on day {i}, and the taxes, the garage, the plumber, the dentist, the "
                      "passport renewal, the school trip and the gutter cleaning.")
        store.unindexed.settle(store.unindexed.last_mutation)
        assert applied(store)
        found = store.search("saffron risotto with arborio", 5, MemoryFilter(), mode="semantic")
        assert len(found) == 5  # not only the long memory, though its parts fill the top 5 vectors
    finally:
        store.close()


def test_a_long_memory_syncs_whole_to_another_device_and_its_delete_removes_every_part(cloud, tmp_path, embedder):
    a = device(cloud, tmp_path / "a.db", embedder, may_own_sync=False)
    b = device(cloud, tmp_path / "b.db", embedder, may_own_sync=False)
    for store in (a, b):
        store.open()
        store.cloud.open()  # no background sync: the test drives the engines
    try:
        text = long_text(14_000)
        memory, _ = MemoryService(a, DEFAULT_MAX_CONTENT_LENGTH).store(text, tags=["plans"])
        a.engine.push_all()
        assert d1(cloud, "SELECT count(*) FROM memory_parts") == [(len(cut(text, PART_LENGTH)) - 1,)]
        b.engine.pull()
        assert b.get(memory.content_hash).content == text
        wait_until(lambda: b.search("saffron risotto", 1, MemoryFilter(), mode="semantic") != [],
                   what="b indexes the pulled memory")
        best = b.search("saffron risotto with arborio", 1, MemoryFilter(), mode="semantic")[0]
        assert best.memory.content_hash == memory.content_hash  # by its end, on b's own vectors
        MemoryService(b, DEFAULT_MAX_CONTENT_LENGTH).delete(memory.content_hash)
        b.engine.push_all()
        a.engine.pull()
        assert memory.content_hash not in local_rows(a)
        wait_until(lambda: cloud.vector_ids() == set(), what="every part's vector deleted")
        assert d1(cloud, "SELECT count(*) FROM memory_parts") == [(0,)]
    finally:
        a.close()
        b.close()


def test_the_drift_check_finishes_a_failed_part_delete_and_restores_a_lost_part(cloud, tmp_path, embedder):
    cloud.emulator.mutation_delay = 0.0
    store = device(cloud, tmp_path / "a.db", embedder, may_own_sync=False)
    store.open()
    store.cloud.open()
    try:
        svc = MemoryService(store, DEFAULT_MAX_CONTENT_LENGTH)
        kept = svc.store(long_text(12_000), tags=["kept"])[0]
        doomed = svc.store(long_text(11_000), tags=["doomed"])[0]
        store.engine.push_all()
        index = cloud.emulator.indexes["mcp-memory-index"]
        kept_parts, doomed_parts = (len(cut(m.content, PART_LENGTH)) for m in (kept, doomed))
        assert len(index.vectors) == kept_parts + doomed_parts
        cloud.emulator.inject(Fault(path=r"/delete_by_ids$", status=503, code=7500, message="upstream error", times=4))
        svc.delete(doomed.content_hash)
        with pytest.raises(CloudflareError):
            store.engine.push_all()  # the row goes; deleting its vectors fails
        assert d1(cloud, f"SELECT count(*) FROM memory_parts WHERE content_hash = '{doomed.content_hash}'") == [
            (doomed_parts - 1,)]
        lost = [v for v in index.vectors if v.startswith(kept.content_hash[:40]) and v != kept.content_hash][0]
        index.vectors.pop(lost)  # and a part's vector that got lost
        conn = cloud.emulator.databases[cloud.database][1]
        conn.execute("UPDATE memories SET created_at = ? WHERE content_hash = ?", (time.time() - 200, kept.content_hash))
        conn.execute("UPDATE memory_parts SET written_at = written_at - 3600")  # the hourly drift check, later
        store.cloud.unindexed.settle(store.cloud.unindexed.last_mutation)
        store.engine.reconcile(since=time.time() - 600)
        kept_ids = {kept.content_hash, *(v for v, in d1(cloud, "SELECT vector_id FROM memory_parts"))}
        assert set(index.vectors) == kept_ids and len(kept_ids) == kept_parts
    finally:
        store.close()
        cloud.stop()


@pytest.mark.anyio
async def test_the_server_on_cloudflare_takes_a_long_memory_through_its_tools(cloud, tmp_path):
    from mcp import Client

    from server.app import build_server
    from server.settings import settings_from_values
    from tests.support.cloudflare_emulator import ACCOUNT
    from tests.support.hybrid import MODEL

    settings = settings_from_values({
        "MCP_MEMORY_STORAGE_BACKEND": "cloudflare", "MCP_MEMORY_BASE_DIR": str(tmp_path / "data"),
        "CLOUDFLARE_API_TOKEN": "good-token", "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
        "CLOUDFLARE_D1_DATABASE_ID": cloud.database, "CLOUDFLARE_VECTORIZE_INDEX": "mcp-memory-index",
        "CLOUDFLARE_EMBEDDING_MODEL": MODEL, "CLOUDFLARE_API_BASE_URL": cloud.emulator.base_url})
    server, _ = build_server(settings)
    async with Client(server) as client:
        stored = await client.call_tool("store_memory", {"content": long_text(), "tags": ["plans"]})
        assert not stored.is_error, stored.content[0].text
        found = await client.call_tool("retrieve_memory", {"query": "saffron risotto with arborio", "n_results": 1})
        assert found.structured_content["results"][0]["content"] == long_text()


def test_a_filtered_search_finds_long_memories_whose_parts_are_too_many_to_score_one_by_one(cloud, monkeypatch):
    from server.storage.cloud import cloudflare as backend

    monkeypatch.setattr(backend, "EXACT_RESCORE_LIMIT", 20)  # the bound, made small: 3 memories of 8 parts
    cloud.emulator.mutation_delay = 0.0
    store = cloud.storage()
    store.open()
    svc = MemoryService(store, DEFAULT_MAX_CONTENT_LENGTH)
    try:
        books = [svc.store(long_text(15_000) + f" Volume {i}.", tags=["book"])[0].content_hash for i in range(3)]
        for i in range(120):  # more vectors close to the question than the index returns at once
            svc.store(f"Unrelated note {i}: saffron risotto with arborio, again, number {i}.")
        store.unindexed.settle(store.unindexed.last_mutation)
        found = store.search("saffron risotto with arborio", 5, MemoryFilter(tags=("book",)), mode="semantic")
        assert sorted(m.memory.content_hash for m in found) == sorted(books)  # not an empty page
    finally:
        store.close()
