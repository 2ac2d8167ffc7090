"""One conformance suite for every storage backend: sqlite_vec on a real file, cloudflare on the emulator."""

from __future__ import annotations

import pytest

from server.backends import local_store
from server.cloudflare.client import RetryPolicy
from server.errors import StorageError
from server.service import MemoryService, content_hash

TEXTS = ["python asyncio event loop coroutines", "sourdough bread baking with a starter",
         "kubernetes pod scheduling on nodes", "espresso coffee brewing pressure"]


@pytest.fixture(params=["sqlite_vec", "cloudflare", "cloudflare-late-vectorize", "hybrid"])
def service(request, settings, embedder):
    if request.param == "sqlite_vec":
        store = local_store(settings, embedder=embedder)
    elif request.param == "hybrid":
        from tests.support.hybrid import device

        store = device(request.getfixturevalue("cloud"), settings.database_path, embedder)
    else:
        cloud = request.getfixturevalue("cloud")  # started only for the cloud backends
        if request.param == "cloudflare-late-vectorize":
            cloud.emulator.mutation_delay = 30.0  # Vectorize serves no write of this test: reads after writes work
        store = cloud.storage(retry=RetryPolicy(max_tries=2, base_delay=0.01))
    store.open()
    yield MemoryService(store, 5000)
    store.close()


def test_store_is_idempotent_by_content_hash(service):
    first, created = service.store("Hello World", tags=["A", "a", "b"])
    again, created_again = service.store("hello world ")
    assert created and not created_again and first.content_hash == again.content_hash == content_hash("hello world")
    assert service.health().total_memories == 1


def test_semantic_search_ranks_the_related_memory_first(service):
    for text in TEXTS:
        service.store(text)
    hits = service.retrieve("baking bread", n_results=2)
    assert hits[0].memory.content == TEXTS[1]
    assert all(0.0 <= h.similarity <= 1.0 for h in hits)


def test_tag_filters_give_full_pages_and_match_all(service):
    for n in range(12):
        service.store(f"note {n} about {TEXTS[n % 4]}", tags=["rare", "x"] if n % 3 == 0 else ["common"])
    hits = service.retrieve("coffee", n_results=4, tags=["rare"])
    assert len(hits) == 4 and all("rare" in h.memory.tags for h in hits)
    assert len(service.search_by_tag(["rare", "x"], match_all=True)) == 4
    assert len(service.search_by_tag(["rare", "common"])) == 12


def test_a_search_that_only_excludes_types_leaves_those_types_out(service):
    """The dashboard and the hooks search without system memories (or session records) by excluding their
    types alone; such a filter once counted as no filter, and they came back."""
    from server.storage.base import MemoryFilter

    service.store("espresso brewing notes", memory_type="association")
    service.store("espresso brewing session record", memory_type="session")
    service.store("espresso brewing at nine bar", memory_type="note")
    where = MemoryFilter(exclude_types=("association", "session"))
    for mode in ("hybrid", "semantic", "lexical"):
        hits = service.search("espresso brewing", 5, mode=mode, where=where)
        assert [h.memory.memory_type for h in hits] == ["note"], mode


def test_update_list_and_delete(service):
    memory, _ = service.store("a memory to change", tags=["one"], metadata={"k": 1})
    updated = service.update_metadata(memory.content_hash, tags=["two"], metadata={"k": None, "j": 2})
    assert updated.tags == ("two",) and dict(updated.metadata) == {"j": 2}
    page, total = service.list_memories(page=1, page_size=5, tag="two")
    assert total == 1 and page[0].content_hash == memory.content_hash
    service.delete(memory.content_hash)
    assert service.list_memories()[1] == 0
    assert service.retrieve("a memory to change", n_results=3) == []


def test_delete_by_tag_removes_only_matches(service):
    service.store("keep me", tags=["keep"])
    service.store("drop me", tags=["drop"])
    assert service.delete_by_tag("drop") == [content_hash("drop me")]
    assert [m.content for m in service.list_memories()[0]] == ["keep me"]


def test_a_vectorize_index_of_the_wrong_dimension_is_refused_at_start(cloud):
    cloud.emulator.add_index(dimensions=384)  # replaces the index of that name
    store = cloud.storage()
    with pytest.raises(StorageError, match="384 dimensions but @cf"):
        store.open()
    store.close()


def test_d1_migrations_are_recorded_and_not_reapplied(cloud):
    for _ in range(2):
        store = cloud.storage()
        store.open()
        assert store.health().details.migrations == ["0001_memories", "0002_sync", "0003_sync_indexes", "0004_search",
                                                "0005_parts", "0006_time_indexes", "0007_type_index"]
        store.close()
    rows = cloud.emulator.databases[cloud.database][1].execute("SELECT count(*) FROM schema_migrations").fetchone()
    assert rows == (7,)  # each recorded once, though opened twice


NOTES = ["Error E1042 on the payment service means the card issuer timed out; retry after 30 s.",
         "Error E1024 on the payment service means the currency is not supported.",
         "The payment service retries card issuers after thirty seconds.",
         "Sourdough needs a ripe starter and a long cold proof."]


def test_search_modes_and_an_identifier_question_ranks_the_memory_holding_it_first(service):
    from server.errors import InvalidInputError

    for text in NOTES:
        service.store(text, tags=["payments"] if "payment" in text else None)
    for mode in ("hybrid", "lexical"):
        hits = service.retrieve("What did I note about E1042?", n_results=3, mode=mode)
        assert hits[0].memory.content == NOTES[0], mode
    words = service.retrieve("sourdough", n_results=5, mode="lexical")
    assert [h.memory.content for h in words] == [NOTES[3]]  # by words only: nothing else shares one
    filtered = service.retrieve("E1042 card issuer", n_results=5, tags=["payments"])
    assert {h.memory.content for h in filtered} == set(NOTES[:3])  # filtered before ranking: a full page
    assert service.retrieve("baking bread", n_results=1, mode="semantic")[0].memory.content == NOTES[3]
    with pytest.raises(InvalidInputError):
        service.retrieve("anything", mode="fuzzy")
