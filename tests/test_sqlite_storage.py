"""The sqlite_vec backend on real SQLite files with the real default embedding engine."""

import sqlite3
import threading
import time

import numpy as np
import pytest

from server.errors import DriverUnavailableError, StorageError
from server.service import MemoryService, content_hash
from server.storage.local import sqlite_driver
from server.storage.base import MemoryFilter
from server.storage.local.migrations import MIGRATIONS, apply_migrations
from tests.support.database import reading, writing
from server.backends import local_store

TOPICS = [
    "Python asyncio event loops schedule coroutines",
    "The Eiffel tower is in Paris, France",
    "Sourdough bread needs a starter and a long proof",
    "Kubernetes pods are scheduled onto nodes",
    "Espresso is brewed by forcing hot water through coffee",
]


@pytest.fixture
def service(storage):
    return MemoryService(storage, max_content_length=5000)


def test_the_same_content_stored_twice_is_one_memory(service, storage):
    first, created = service.store("  Remember THE milk ", tags=["Shopping", "shopping ", "todo"])
    again, created_again = service.store("remember the milk")
    assert created and not created_again
    assert first.content_hash == again.content_hash == content_hash("remember the milk")
    assert first.tags == ("shopping", "todo")
    assert storage.health().total_memories == 1


def test_search_finds_the_most_similar_memory_first_with_scores_between_0_and_1(service):
    for text in TOPICS:
        service.store(text)
    hits = service.retrieve("how do I bake bread at home", n_results=3)
    assert hits[0].memory.content.startswith("Sourdough")
    assert all(0.0 <= h.similarity <= 1.0 for h in hits)
    assert [h.similarity for h in hits] == sorted((h.similarity for h in hits), reverse=True)


def test_the_in_memory_index_and_the_sql_scan_give_the_same_results(service, storage):
    for n, text in enumerate(TOPICS * 4):
        service.store(f"{text} (variant {n})", tags=["even" if n % 2 == 0 else "odd"])
    where = MemoryFilter(tags=("odd",))
    before = storage.search("coffee and bread", 6, where)  # index not loaded yet: exact SQL scan
    storage.warm_up()
    after = storage.search("coffee and bread", 6, where)
    assert storage.health().details.vector_index.loaded
    assert [h.memory.content_hash for h in before] == [h.memory.content_hash for h in after]
    assert np.allclose([h.similarity for h in before], [h.similarity for h in after], atol=1e-5)


def test_filtered_search_returns_full_pages(service, storage):
    # 60 memories, only 12 tagged "rare": a k-then-filter search would return almost none of them.
    for n in range(60):
        service.store(f"note number {n} about {TOPICS[n % 5]}", tags=["rare"] if n % 5 == 0 else ["common"])
    storage.warm_up()
    hits = service.retrieve("asyncio coroutines", n_results=10, tags=["rare"])
    assert len(hits) == 10
    assert all("rare" in h.memory.tags for h in hits)


def test_search_sees_writes_made_by_another_connection(settings, embedder, service, storage):
    storage.warm_up()
    service.store(TOPICS[0])
    other = local_store(settings, embedder=embedder)
    other.open()
    try:
        other_service = MemoryService(other, 5000)
        other_service.store(TOPICS[1])
        other_service.delete(content_hash(TOPICS[0]))
    finally:
        other.close()
    hits = service.retrieve("Paris landmark", n_results=5)
    assert [h.memory.content for h in hits] == [TOPICS[1]]


def test_search_never_writes(service, storage, settings):
    for text in TOPICS:
        service.store(text)
    storage.warm_up()
    conn = sqlite3.connect(settings.database_path)
    before = conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes
    service.retrieve("coffee", n_results=3)
    service.list_memories(page=1, page_size=5)
    storage.health()
    assert (conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes) == before
    conn.close()


def test_match_all_is_honoured_and_delete_by_tag_removes_only_matches(service, storage):
    service.store("a", tags=["x", "y"])
    service.store("b", tags=["x"])
    service.store("c", tags=["y"])
    assert {m.content for m in service.search_by_tag(["x", "y"], match_all=True)} == {"a"}
    assert {m.content for m in service.search_by_tag("x,y")} == {"a", "b", "c"}
    deleted = service.delete_by_tag(["x", "y"], match_all=True)
    assert deleted == [content_hash("a")]
    assert {m.content for m in service.list_memories(page_size=10)[0]} == {"b", "c"}


def test_metadata_updates_merge_keys_and_replace_tags(service):
    memory, _ = service.store("meeting notes", tags=["work"], memory_type="note", metadata={"a": 1, "b": 2})
    time.sleep(0.01)  # distinct updated_at
    updated = service.update_metadata(memory.content_hash, tags=["Work", "Q4"], metadata={"b": None, "c": 3})
    assert updated.tags == ("work", "q4")
    assert dict(updated.metadata) == {"a": 1, "c": 3}
    assert updated.memory_type == "note"
    assert updated.updated_at > memory.updated_at and updated.created_at == memory.created_at
    assert [m.content for m in service.search_by_tag("q4")] == ["meeting notes"]


def test_list_pages_and_filters_by_type(service):
    for n in range(25):
        service.store(f"item {n}", memory_type="task" if n % 2 else "note")
    page, total = service.list_memories(page=2, page_size=5, memory_type="task")
    assert total == 12 and len(page) == 5
    assert all(m.memory_type == "task" for m in page)
    assert page[0].created_at >= page[-1].created_at


def test_migrations_are_recorded_once_and_reapplying_changes_nothing(storage, settings):
    health = storage.health()
    assert health.details.migrations == [m.name for m in MIGRATIONS]
    conn = sqlite_driver.connect(settings.database_path, settings.sqlite_pragmas, sqlite_driver.pick_driver())
    assert apply_migrations(conn) == []
    conn.close()


def test_every_connection_gets_wal_and_the_configured_pragmas(settings, embedder, tmp_path):
    from server.settings import settings_from_values

    s = settings_from_values({"MCP_MEMORY_BASE_DIR": str(tmp_path / "p"),
                              "MCP_MEMORY_SQLITE_PRAGMAS": "busy_timeout=4321,cache_size=-8000,synchronous=FULL"})
    store = local_store(s, embedder=embedder)
    store.open()
    store.close()
    store.open()  # a second connection after a restart gets them too
    pragmas = store.health().pragmas
    store.close()
    assert pragmas["journal_mode"] == "wal"
    assert pragmas["busy_timeout"] == 4321
    assert pragmas["cache_size"] == -8000
    assert pragmas["synchronous"] == 2


def test_a_database_built_with_another_model_is_refused(storage, settings, embedder):
    conn = sqlite_driver.connect(settings.database_path, settings.sqlite_pragmas, sqlite_driver.pick_driver())
    conn.execute("UPDATE store_meta SET value = 'other-model' WHERE key = 'embedding_model'")
    conn.close()
    other = local_store(settings, embedder=embedder)
    with pytest.raises(StorageError, match="MCP_EMBEDDING_MODEL"):
        other.open()
    other.close()


def test_driver_choice_falls_back_and_explains_when_nothing_can_load_sqlite_vec():
    driver = sqlite_driver.pick_driver()
    assert driver.__name__ in ("sqlite3", "sqlean")
    with pytest.raises(DriverUnavailableError) as caught:
        sqlite_driver.pick_driver(("no_such_driver_module",))
    assert "pip install sqlean.py" in str(caught.value)


def test_concurrent_writers_in_threads_lose_nothing(settings, embedder, storage):
    errors = []

    def writer(worker: int) -> None:
        store = local_store(settings, embedder=embedder)
        store.open()
        try:
            svc = MemoryService(store, 5000)
            for n in range(15):
                svc.store(f"thread {worker} memory {n}", tags=[f"w{worker}"])
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert storage.health().total_memories == 60


def test_an_index_left_behind_by_a_trimmed_log_reloads_in_full(settings, embedder, service, storage):
    service.store(TOPICS[0])
    storage.warm_up()
    other = local_store(settings, embedder=embedder)
    other.open()
    try:
        other_service = MemoryService(other, 5000)
        other_service.store(TOPICS[1])
        other_service.store(TOPICS[2])
        other_service.delete(content_hash(TOPICS[0]))
        # What trimming does after 10,000 more writes: the entries this index has not seen are gone.
        other._conn.execute("DELETE FROM vector_log WHERE seq < (SELECT max(seq) FROM vector_log)")
    finally:
        other.close()
    hits = service.retrieve("anything at all", n_results=10)
    assert sorted(h.memory.content for h in hits) == sorted(TOPICS[1:3])
    assert storage.health().details.vector_index.vectors == 2


def test_a_long_memory_is_kept_whole_and_its_end_is_found_by_meaning_and_by_words(storage, tmp_path):
    from server.service import MemoryService
    from server.settings import DEFAULT_MAX_CONTENT_LENGTH

    service = MemoryService(storage, DEFAULT_MAX_CONTENT_LENGTH)
    filler = " ".join(f"Meeting notes line {n}: the quarterly budget review covered travel and office costs."
                      for n in range(300))  # about 25,000 characters about budgets
    ending = "Finally, at home I baked sourdough bread with a ripe starter and a long cold proof."
    long_memory, _ = service.store(f"{filler} {ending}")
    service.store("A short note about kubernetes pod scheduling.")
    service.store("Espresso brewing needs nine bars of pressure.")
    assert len(service.get(long_memory.content_hash).content) > 25_000  # whole
    for mode in ("semantic", "hybrid"):
        hits = service.retrieve("how do I make bread with a starter?", n_results=1, mode=mode)
        assert hits[0].memory.content_hash == long_memory.content_hash, mode
    assert service.retrieve("sourdough", n_results=1, mode="lexical")[0].memory.content_hash == long_memory.content_hash
    service.delete(long_memory.content_hash)
    with reading(storage.path) as conn:  # its chunks and its text go with it
        assert conn.execute("SELECT count(*) FROM memory_chunks").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM memory_text WHERE memory_text MATCH 'sourdough'").fetchone()[0] == 0


def test_another_process_sees_a_long_memory_by_its_end_and_its_removal(settings, embedder):
    from server.service import MemoryService
    from server.storage.base import MemoryFilter

    writer = local_store(settings, embedder=embedder)
    reader = local_store(settings, embedder=embedder)
    writer.open()
    reader.open()
    try:
        assert reader.search("bread with a starter", 1, MemoryFilter(), mode="semantic") == []  # mirror read, empty
        text = " ".join(f"Budget line {n}: travel and office costs were reviewed." for n in range(200))
        memory, _ = MemoryService(writer, 200_000).store(text + " At home I baked sourdough bread with a starter.")
        hits = reader.search("how do I bake bread with a starter?", 1, MemoryFilter(), mode="semantic")
        assert hits and hits[0].memory.content_hash == memory.content_hash
        writer.delete(memory.content_hash)
        assert reader.search("how do I bake bread with a starter?", 1, MemoryFilter(), mode="semantic") == []
    finally:
        writer.close()
        reader.close()


def test_health_reuses_its_integrity_verdict_instead_of_reading_every_page_each_time(service, storage):
    first = storage.health()
    assert first.status == "healthy" and first.details.integrity_checked_at is not None
    service.store("one more memory")
    again = storage.health()  # a dashboard asks on every load: no full read of the file each time
    assert again.details.integrity_checked_at == first.details.integrity_checked_at and again.total_memories == 1


def test_a_damaged_file_is_a_failing_verdict_and_a_deleted_one_is_never_recreated(service, storage, settings):
    service.store("a memory on a disk that goes bad")
    storage._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the pages are in the file, not the WAL
    path = settings.database_path
    with open(path, "r+b") as raw:
        raw.write(b"not a database header " * 4)  # same inode: only the file's content says it is damaged
    health = storage.health()  # before: the tool failed with "Check the path and its permissions"
    assert health.status == "failing"
    assert health.problems == ["the database cannot be read (file is not a database): restore a backup"]

    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    assert storage.health().status == "failing"
    with pytest.raises(StorageError, match="unable to open"):  # the connection health and scans use
        sqlite_driver.connect(path, (), sqlite_driver.pick_driver(), read_only=True)
    assert not path.exists()  # nothing made an empty database in its place


def test_a_search_waiting_for_its_question_to_be_embedded_holds_up_no_other_read_or_write(settings, embedder):
    import threading

    class StillLoading:  # a model that has not finished loading: embedding waits (BackgroundEmbedder does)
        engine, model_name, dimension = embedder.engine, embedder.model_name, embedder.dimension

        def __init__(self) -> None:
            self.loaded, self.asked = threading.Event(), threading.Event()

        def embed(self, texts):
            if texts == ["which memory is about bread?"]:
                self.asked.set()
                assert self.loaded.wait(30)
            return embedder.embed(texts)

    model = StillLoading()
    store = local_store(settings, embedder=model)
    store.open()
    try:
        svc = MemoryService(store, max_content_length=5000)
        svc.store("Sourdough bread needs a starter")
        searching = threading.Thread(target=store.search, args=("which memory is about bread?", 5, MemoryFilter()))
        searching.start()
        assert model.asked.wait(10)
        others = threading.Thread(target=lambda: (store.page(MemoryFilter(), 0, 10), svc.store("a write meanwhile")))
        others.start()
        others.join(10)
        finished_first = not others.is_alive()
        model.loaded.set()
        searching.join(30)
        assert finished_first  # the list and the store did not wait for the embedding
    finally:
        model.loaded.set()
        store.close()


def test_a_question_of_common_words_ranks_the_memories_with_all_of_them_and_a_rare_word_is_never_left_out(storage):
    import json as _json

    from server.search.lexical import all_of, any_of, terms
    from server.storage.local import local_search

    now = time.time()
    texts = [f"Budget review number {i}: the quarterly budget and a deadlock in the build." for i in range(2600)]
    texts += [f"Asyncio note {i}: the event loop runs the tasks of batch {i}." for i in range(60)]
    texts += ["An asyncio deadlock: two tasks await each other."]
    with writing(storage.path) as conn:
        conn.executemany(
            "INSERT INTO memories (content, content_hash, tags, memory_type, metadata, created_at, created_at_iso, "
            "updated_at, updated_at_iso) VALUES (?, ?, ?, NULL, '{}', ?, '', ?, '')",
            [(t, content_hash(t), _json.dumps([]), now, now) for t in texts])
    with reading(storage.path) as conn:
        both = conn.execute("SELECT id FROM memories WHERE content LIKE 'An asyncio deadlock%'").fetchone()[0]
        found = local_search.lexical_candidates(conn, "why the asyncio deadlock?", 50, MemoryFilter())
        assert max(found, key=found.__getitem__) == both  # a rare word: every match ranked, its words all weigh
        question = "quarterly budget review"  # every word in 2,600 memories: those with all three are ranked
        common = local_search.lexical_candidates(conn, question, 50, MemoryFilter())
        assert common == local_search._ranked(conn, all_of(terms(question)) or "", 50, MemoryFilter())
        full = local_search._ranked(conn, any_of(terms(question)) or "", 50, MemoryFilter())
        assert len(common) == 50 and sorted(common.values()) == sorted(full.values())  # the same scores
