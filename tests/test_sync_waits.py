"""The sync waits as long as the cloud asks and backs off when refused, and says what it is waiting for; the
cloudflare backend never hides a delete behind a failed vector delete, and removes the vector later."""

from __future__ import annotations

import time

import pytest

from server.cloudflare.client import RetryPolicy
from server.service import MemoryService
from tests.support.cloudflare_emulator import Fault
from tests.support.hybrid import Cloud, device, drained, service, wait_until

pytestmark = pytest.mark.slow



def _requests(cloud: Cloud) -> int:
    return len(cloud.emulator.requests)


def test_a_429_with_retry_after_when_connecting_is_waited_out(cloud, tmp_path, embedder):
    cloud.emulator.inject(Fault(path=r"/indexes/mcp-memory-index$", status=429, code=971, message="Please wait and "
                                "consider throttling your request speed", retry_after=3, times=1000))
    store = device(cloud, tmp_path / "a.db", embedder, retry=RetryPolicy(max_tries=1))
    store.open()
    try:
        wait_until(lambda: _requests(cloud) >= 1, what="the first try")
        time.sleep(2.5)  # inside the 3 s the cloud asked for
        assert _requests(cloud) == 1, cloud.emulator.requests
        assert store.sync_status().paused_until > time.time()
    finally:
        store.close()


def test_a_revoked_token_is_tried_again_less_and_less_often(cloud, tmp_path, embedder):
    store = device(cloud, tmp_path / "a.db", embedder, sync_interval=0.05)
    store.open()
    try:
        wait_until(lambda: drained(store), what="the first sync")
        cloud.emulator.tokens["good-token"] = "revoked"
        start = _requests(cloud)
        time.sleep(4.0)
        tries = _requests(cloud) - start
        assert tries <= 6, f"{tries} requests in 4 s with a revoked token"  # one a poll (0.05 s) before: ~80
        status = store.sync_status()
        assert status.cloud_reachable is False and "Authentication error" in status.last_error
        cloud.emulator.tokens["good-token"] = "active"
        service(store).store("written after the token was fixed")
        store.force_sync()
        wait_until(lambda: drained(store), what="the sync after the fix")
        assert store.sync_status().last_error is None  # recovered: the old error is not the state any more
    finally:
        store.close()


def test_the_daily_d1_limit_queues_writes_until_it_resets_and_parks_nothing(cloud, tmp_path, embedder):
    store = device(cloud, tmp_path / "a.db", embedder)
    store.open()
    try:
        wait_until(lambda: drained(store), what="the first sync")
        cloud.emulator.daily_limit_reached = True
        svc = service(store)
        for n in range(3):
            svc.store(f"written after the daily limit, number {n}")
        wait_until(lambda: store.sync_status().paused_until is not None, what="the pause")
        status = store.sync_status()
        assert status.parked == 0 and status.queue_depth == 3
        assert "daily row read limit" in status.last_error
        midnight = (time.time() // 86_400 + 1) * 86_400
        assert midnight <= status.paused_until <= midnight + 120
        start = _requests(cloud)
        time.sleep(1.5)
        assert _requests(cloud) == start  # nothing asked while the limit stands
        cloud.emulator.daily_limit_reached = False  # 00:00 UTC
        store.force_sync()
        wait_until(lambda: drained(store), what="the sync after the reset")
        assert len(cloud.rows()) == 3
    finally:
        store.close()


def test_a_failed_vector_delete_still_deletes_and_the_vector_goes_with_the_next_change_or_start(cloud, tmp_path):
    first = cloud.storage()
    first.open()
    svc = MemoryService(first, 200_000)
    gone, _ = svc.store("a memory whose vector delete fails")
    other, _ = svc.store("a memory that stays")
    cloud.emulator.inject(Fault(path=r"/delete_by_ids$", status=500, message="internal error", times=3))
    svc.delete(gone.content_hash)  # before: "Try again shortly", though the row was gone
    assert gone.content_hash not in cloud.rows() and gone.content_hash in cloud.vector_ids()
    assert [h.memory.content_hash for h in svc.retrieve("a memory whose vector delete fails")] == [other.content_hash]
    svc.store("the next change")
    assert gone.content_hash not in cloud.vector_ids()

    again, _ = svc.store("deleted while the vector index is down, then the process stops")
    cloud.emulator.inject(Fault(path=r"/delete_by_ids$", status=500, message="internal error", times=3))
    svc.delete(again.content_hash)
    first.close()
    assert again.content_hash in cloud.vector_ids()
    restarted = cloud.storage()
    restarted.open()
    restarted.warm_up()  # in the background at start
    assert again.content_hash not in cloud.vector_ids()
    restarted.close()
