"""Cloud writes that fail half-way leave either the whole memory or nothing findable, and the drift check
repairs what a failure left behind: vectors without rows, rows without vectors."""

from __future__ import annotations

import time

import pytest

from server.cloudflare.client import RetryPolicy
from server.cloudflare.errors import CloudflareError
from server.errors import StorageError
from server.service import MemoryService
from tests.support.cloudflare_emulator import Fault
from tests.support.hybrid import device, service

REFUSED = dict(status=400, code=7500, message="string or blob too big: SQLITE_TOOBIG")


@pytest.fixture
def cloudflare(cloud):
    """The cloudflare backend alone, over the emulator; one try per request (faults are seen at once)."""
    store = cloud.storage(retry=RetryPolicy(max_tries=1))
    store.open()
    yield cloud.emulator, cloud.database, MemoryService(store, 5000)
    store.close()


@pytest.mark.parametrize("failing_query", [1, 2], ids=["the row write", "the step after it"])
def test_a_store_failing_after_the_vector_leaves_nothing_and_a_retry_stores_it_whole(cloudflare, failing_query):
    emulator, database, svc = cloudflare
    # Query 0 is the existence check; later ones write (one batch now; rows, then tags, before).
    emulator.inject(Fault(path=r"/query$", skip=failing_query, **REFUSED))
    try:
        svc.store("the VPN config lives in wg0.conf", tags=["network"])
    except StorageError:
        pass  # the tool says nothing was kept: then nothing may be findable
    conn = emulator.databases[database][1]
    rows = conn.execute("SELECT count(*) FROM memories").fetchone()[0]
    tagged = conn.execute("SELECT count(*) FROM memory_tags").fetchone()[0]
    assert (rows, tagged) in ((0, 0), (1, 1))  # all or nothing
    emulator.faults.clear()
    memory, _ = svc.store("the VPN config lives in wg0.conf", tags=["network"])  # the retry
    assert [m.content_hash for m in svc.search_by_tag("network")] == [memory.content_hash]
    assert set(emulator.indexes["mcp-memory-index"].vectors) == {memory.content_hash}


def test_the_drift_check_removes_a_vector_left_by_a_failed_delete_and_restores_a_lost_one(cloud, tmp_path, embedder):
    store = device(cloud, tmp_path / "a.db", embedder, may_own_sync=False)  # the test drives the engine
    store.open()
    store.cloud.open()
    try:
        svc = service(store)
        kept = svc.store("a memory whose vector Vectorize lost, about kestrels")[0]
        doomed = svc.store("a memory deleted while Vectorize failed, about owls")[0]
        store.engine.push_all()
        cloud.emulator.inject(Fault(path=r"/delete_by_ids$", status=503, code=7500, message="upstream error", times=4))
        svc.delete(doomed.content_hash)
        with pytest.raises(CloudflareError):
            store.engine.push_all()  # the rows go, the vector delete fails (the delete stays queued)
        index = cloud.emulator.indexes["mcp-memory-index"]
        assert doomed.content_hash in index.vectors and doomed.content_hash not in cloud.rows()
        assert all(h.memory.content_hash != doomed.content_hash for h in store.cloud.search("owls", 5, _no_filter()))
        index.vectors.pop(kept.content_hash)  # and a vector that got lost
        d1 = cloud.emulator.databases[cloud.database][1]
        d1.execute("UPDATE memories SET created_at = ? WHERE content_hash = ?", (time.time() - 200, kept.content_hash))
        store.cloud.unindexed.settle(store.cloud.unindexed.last_mutation)
        store.engine.reconcile(since=time.time() - 600)
        assert set(index.vectors) == {kept.content_hash}
    finally:
        store.close()


def _no_filter():
    from server.storage.base import MemoryFilter

    return MemoryFilter()


def test_in_an_outage_every_call_of_the_cloudflare_backend_fails_as_a_storage_error_naming_what_it_did(cloudflare):
    """Errors are translated once, at the backend's boundary: no CloudflareError leaks out of any public call."""
    from server.storage.base import MemoryFilter
    from server.record import Memory, MetadataChange

    emulator, _, svc = cloudflare
    kept, _ = svc.store("the VPN config lives in wg0.conf", tags=["network"])
    store = svc.storage
    emulator.outage("503")
    calls = {
        "storing the memory": lambda: store.store(Memory(content="another memory", content_hash="b" * 64)),
        "reading the memory": lambda: store.get(kept.content_hash),
        "listing memories": lambda: store.page(MemoryFilter(), 0, 10),
        "searching": lambda: store.search("VPN config", 5, MemoryFilter()),
        "updating the memory": lambda: store.update_metadata(kept.content_hash, MetadataChange(tags=["y"]), 1.0),
        "deleting the memory": lambda: store.delete(kept.content_hash),
        "deleting memories": lambda: store.delete_where(MemoryFilter(tags=("network",))),
        "reading which memories it has": lambda: store.known([kept.content_hash]),
        "counting memories": store.stats,
        "reading its health": store.health,
    }
    for doing, call in calls.items():
        with pytest.raises(StorageError, match=f"Cloudflare failed while {doing}") as caught:
            call()
        assert isinstance(caught.value.__cause__, CloudflareError), doing
