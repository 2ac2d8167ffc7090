"""The hybrid backend against the Cloudflare emulator (real HTTP): local speed, a durable outbox, sync
that survives outages and rate limits, converges across devices, and never resurrects a delete."""

from __future__ import annotations

import json
import sqlite3
import time
import random

import pytest

from server.errors import StorageError
from server.service import content_hash
from tests.support.cloudflare_emulator import Fault
from server.cloudflare.client import RetryPolicy
from tests.support.hybrid import device, drained, local_rows, service, wait_until
from tests.support.database import reading

OUTAGE = Fault(path=r"/client/v4/", status=503, code=7500, message="service unavailable", times=10**9)



def test_the_cloud_down_at_start_changes_nothing_for_the_user_then_everything_is_sent(cloud, tmp_path, embedder):
    cloud.emulator.inject(OUTAGE)
    store = device(cloud, tmp_path / "a.db", embedder)
    store.open()
    try:
        svc = service(store)
        for i in range(5):
            svc.store(f"note number {i} about gardening and tomatoes", tags=["garden"])
        assert [m.memory.content for m in svc.retrieve("tomatoes", 1)]  # served locally
        wait_until(lambda: store.sync_status().cloud_reachable is False, what="the outage to be noticed")
        status = store.sync_status()
        assert status.queue_depth == 5 and status.last_error
        assert cloud.rows() == {}
        cloud.emulator.faults.clear()  # the cloud comes back: no restart needed
        wait_until(lambda: drained(store), what="the outbox to drain after the outage")
        assert cloud.rows() == local_rows(store)
        assert cloud.vector_ids() == set(local_rows(store))
    finally:
        store.close()


def test_outage_during_a_mixed_workload_converges_exactly_without_resurrection(cloud, tmp_path, embedder):
    store = device(cloud, tmp_path / "a.db", embedder, batch_size=50)
    store.open()
    rng = random.Random(7)
    svc = service(store)
    alive: list[str] = []
    deleted: set[str] = set()
    try:
        for step in range(300):
            if step == 0:
                cloud.emulator.outage("drop")  # connections cut part-way through every answer
            if step == 150:
                cloud.emulator.outage(None)
            roll = rng.random()
            if roll < 0.6 or len(alive) < 5:
                memory, _ = svc.store(f"memory {step}: {rng.choice(['cats', 'rust', 'tea', 'maps'])} {step * 7}",
                                      tags=[f"t{step % 5}"])
                alive.append(memory.content_hash)
            elif roll < 0.85:
                svc.update_metadata(rng.choice(alive), tags=[f"edited{step}"], metadata={"step": step})
            else:
                victim = alive.pop(rng.randrange(len(alive)))
                svc.delete(victim)
                deleted.add(victim)
        wait_until(lambda: drained(store), timeout=60, what="the outbox to drain")
        store.force_sync()
        cloud_rows = cloud.rows()
        assert cloud_rows == local_rows(store)
        assert set(cloud_rows) == set(alive)
        assert not deleted & set(cloud_rows)
        assert cloud.vector_ids() == set(alive)
    finally:
        store.close()


def test_a_burst_of_429s_is_ridden_out_and_the_last_edit_wins(cloud, tmp_path, embedder):
    store = device(cloud, tmp_path / "a.db", embedder)
    store.open()
    try:
        svc = service(store)
        memory, _ = svc.store("the deploy key rotates every ninety days", tags=["ops"])
        cloud.emulator.inject(Fault(path=r"/query$|/upsert$|/ai/run/", status=429, code=971,
                                    message="Please wait and consider throttling your request speed",
                                    retry_after=0.2, times=12))
        for version in range(1, 8):
            svc.update_metadata(memory.content_hash, metadata={"version": version}, tags=[f"v{version}"])
        wait_until(lambda: drained(store), timeout=60, what="the outbox to drain through the 429s")
        tags, _, metadata = cloud.rows()[memory.content_hash]
        assert json.loads(tags) == ["v7"] and json.loads(metadata) == {"version": 7}
        statuses = [p for m, p in cloud.emulator.requests if p.endswith("/query")]
        assert statuses  # the cloud was really used
        assert not any(f.times for f in cloud.emulator.faults)  # the whole burst was consumed
    finally:
        store.close()


def test_an_operation_the_cloud_refuses_for_good_is_parked_and_reported_not_dropped(cloud, tmp_path, embedder):
    store = device(cloud, tmp_path / "a.db", embedder)
    store.open()
    try:
        wait_until(lambda: store.sync_status().cloud_reachable is True, what="the first connection")
        cloud.emulator.inject(Fault(path=r"/query$", status=400, code=7500,
                                    message="string or blob too big: SQLITE_TOOBIG", times=2))
        memory, _ = service(store).store("a memory the cloud will refuse twice")
        wait_until(lambda: store.sync_status().parked == 1, what="the refused row to be parked")
        status = store.sync_status()
        assert status.parked_operations[0].content_hash == memory.content_hash
        assert "SQLITE_TOOBIG" in status.parked_operations[0].reason
        assert memory.content_hash not in cloud.rows()
        service(store).update_metadata(memory.content_hash, tags=["retry"])  # a new change revives it
        wait_until(lambda: drained(store) and store.sync_status().parked == 0, what="the revived row to go")
        assert json.loads(cloud.rows()[memory.content_hash][0]) == ["retry"]
    finally:
        store.close()


def test_two_devices_converge_including_edits_and_deletes_made_on_the_other(cloud, tmp_path, embedder):
    a = device(cloud, tmp_path / "a.db", embedder)
    b = device(cloud, tmp_path / "b.db", embedder)
    a.open()
    b.open()
    try:
        sa, sb = service(a), service(b)
        from_a = [sa.store(f"device a writes about topic {i} and lakes")[0].content_hash for i in range(20)]
        from_b = [sb.store(f"device b writes about topic {i} and mountains")[0].content_hash for i in range(20)]
        a.force_sync()
        b.force_sync()
        a.force_sync()
        assert set(local_rows(a)) == set(local_rows(b)) == set(from_a) | set(from_b)
        sb.update_metadata(from_a[0], tags=["edited-on-b"], metadata={"by": "b"})  # b edits a's memory
        sa.update_metadata(from_b[0], tags=["edited-on-a"])  # and a edits b's, concurrently
        sa.delete(from_b[1])  # a deletes one of b's memories
        sb.delete(from_a[1])  # b deletes one of a's
        for store in (a, b, a, b):
            store.force_sync()
        assert local_rows(a) == local_rows(b) == cloud.rows()
        rows = local_rows(a)
        assert json.loads(rows[from_a[0]][0]) == ["edited-on-b"]
        assert json.loads(rows[from_b[0]][0]) == ["edited-on-a"]
        assert from_a[1] not in rows and from_b[1] not in rows
        for store in (a, b):  # a full comparison later must not bring the deleted ones back
            store.engine.reconcile()
            store.force_sync()
        assert from_a[1] not in local_rows(b) and from_b[1] not in local_rows(a)
        assert cloud.vector_ids() == set(cloud.rows())
    finally:
        a.close()
        b.close()


def test_a_stale_device_does_not_bring_back_what_another_deleted(cloud, tmp_path, embedder):
    a = device(cloud, tmp_path / "a.db", embedder)
    a.open()
    hashes = [service(a).store(f"shared memory {i} about sailing")[0].content_hash for i in range(3)]
    a.force_sync()
    b = device(cloud, tmp_path / "b.db", embedder, sync_on_startup=True)
    b.open()
    try:
        b.force_sync()
        assert set(local_rows(b)) == set(hashes)
        b.worker.stop()  # b goes offline holding copies
        service(a).delete(hashes[0])
        a.force_sync()
        b.worker._stopping.clear()
        b.worker.start()
        b.force_sync()
        assert hashes[0] not in local_rows(b) and hashes[0] not in cloud.rows()
        service(a).store("shared memory 0 about sailing")  # stored again later: a new memory, allowed
        a.force_sync()
        b.force_sync()
        assert content_hash("shared memory 0 about sailing") in local_rows(b)
    finally:
        a.close()
        b.close()


def test_a_new_device_pulls_everything_and_rebuilds_the_graph(cloud, tmp_path, embedder):
    a = device(cloud, tmp_path / "a.db", embedder)
    a.open()
    try:
        svc = service(a)
        hashes = [svc.store(f"graph node {i} about orchards and apples")[0].content_hash for i in range(6)]
        for left, right in zip(hashes, hashes[1:]):
            svc.store(f"association {left[:8]} {right[:8]}", tags=["association", "discovered"],
                      metadata={"similarity": 0.8, "connection_types": ["semantic"], "source_hash": left,
                                "target_hash": right})
        a.force_sync()
    finally:
        a.close()
    fresh = device(cloud, tmp_path / "new.db", embedder)
    fresh.open()
    try:
        wait_until(lambda: len(local_rows(fresh)) == 11, what="the new device's first pull")
        with reading(fresh.local.path) as conn:
            edges = conn.execute("SELECT count(*) FROM memory_graph").fetchone()[0]
        assert edges == 5
        assert local_rows(fresh) == cloud.rows()
        hits = service(fresh).retrieve("orchards apples", 3)
        assert hits and all("orchards" in h.memory.content for h in hits)  # embedded locally, searchable
    finally:
        fresh.close()


def test_one_owner_per_database_and_a_takeover_when_it_stops(cloud, tmp_path, embedder):
    first = device(cloud, tmp_path / "shared.db", embedder)
    second = device(cloud, tmp_path / "shared.db", embedder)
    first.open()
    second.open()
    try:
        wait_until(lambda: first.worker.owner or second.worker.owner, what="an owner")
        assert first.worker.owner != second.worker.owner
        owner, other = (first, second) if first.worker.owner else (second, first)
        for i in range(10):
            service(other).store(f"written by the non-owner {i} about violins")
        wait_until(lambda: drained(owner), what="the owner to send the other process's writes")
        assert len(cloud.rows()) == 10
        upserts = [p for m, p in cloud.emulator.requests if p.endswith("/upsert")]
        assert len(upserts) <= 10  # batched, and nothing sent twice
        assert other.force_sync().handled_by_pid  # asked of the owner, answered
        owner.close()
        wait_until(lambda: other.worker.owner, what="the other process to take over")
        service(other).store("after the takeover, about cellos")
        wait_until(lambda: drained(other) and len(cloud.rows()) == 11, what="the new owner to sync")
    finally:
        first.close() if not first.worker._stopping.is_set() else None
        second.close() if not second.worker._stopping.is_set() else None


def test_devices_must_cut_long_memories_alike_and_a_database_from_the_5000_limit_days_still_opens(cloud, tmp_path,
                                                                                                   embedder):
    d1 = cloud.emulator.databases[cloud.database][1]
    d1.execute("CREATE TABLE shared_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    d1.execute("INSERT INTO shared_settings VALUES ('max_content_length', '5000')")  # recorded by earlier versions
    a = device(cloud, tmp_path / "a.db", embedder)
    a.open()
    service(a).store("x " * 6000)  # longer than that old limit: fine now
    a.force_sync()
    a.close()
    other = cloud.storage(shared={"part_length": "3000"})  # a version that would cut parts elsewhere
    with pytest.raises(StorageError, match="part_length is '2000' in the cloud but '3000' here"):
        other.open()
    other.close()


def test_a_device_whose_cursor_fell_behind_a_trimmed_change_log_catches_up_in_full(cloud, tmp_path, embedder):
    a = device(cloud, tmp_path / "a.db", embedder)
    a.open()
    b = device(cloud, tmp_path / "b.db", embedder, may_own_sync=False)  # pulls only when the test says
    b.open()
    try:
        hashes = {service(a).store(f"written while b was away {i}, about owls")[0].content_hash for i in range(4)}
        a.force_sync()
        d1 = cloud.emulator.databases[cloud.database][1]
        d1.execute("DELETE FROM change_log WHERE seq < (SELECT max(seq) FROM change_log)")  # a month later
        report = b.engine.pull()
        assert report.pulled_new == 4 and hashes <= set(local_rows(b))
        a.engine.cloud.trim_change_log(before=10**12)  # trimming keeps the newest entry, the position
        assert d1.execute("SELECT count(*) FROM change_log").fetchone()[0] == 1
    finally:
        a.close()
        b.close()


def test_force_sync_on_a_device_in_step_sends_nothing_and_embeds_nothing_in_the_cloud(cloud, tmp_path, embedder):
    a = device(cloud, tmp_path / "a.db", embedder)
    a.open()
    try:
        for i in range(30):
            service(a).store(f"already synced memory {i} about comets")
        wait_until(lambda: drained(a), what="the first sync")
        writes_before = [p for m, p in cloud.emulator.requests if p.endswith(("/upsert", "/ai/run/" + "@cf/baai/bge-base-en-v1.5"))]
        report = a.force_sync()
        writes_after = [p for m, p in cloud.emulator.requests if p.endswith(("/upsert", "/ai/run/" + "@cf/baai/bge-base-en-v1.5"))]
        assert writes_after == writes_before  # no re-push, no Workers AI quota burned (the leading project's #750)
        assert report.sent_new == report.sent_updates == report.pulled_new == 0
    finally:
        a.close()


def test_force_sync_where_no_process_may_own_the_sync_says_so_at_once(cloud, tmp_path, embedder):
    import time

    store = device(cloud, tmp_path / "a.db", embedder, sync_owner="http")
    store.worker.may_own = False  # as in a stdio server with MCP_HYBRID_SYNC_OWNER=http
    store.open()
    try:
        service(store).store("queued until an http server runs the sync")
        start = time.monotonic()
        with pytest.raises(StorageError, match="No server process on this database runs the sync"):
            store.force_sync()
        assert time.monotonic() - start < 5
        assert store.sync_status().queue_depth == 1
    finally:
        store.close()


def test_a_non_owner_asking_for_a_sync_while_the_cloud_is_down_gets_the_error_quickly(cloud, tmp_path, embedder):
    import time

    owner = device(cloud, tmp_path / "shared.db", embedder)
    other = device(cloud, tmp_path / "shared.db", embedder)
    other.worker.may_own = False
    owner.open()
    other.open()
    try:
        wait_until(lambda: owner.worker.owner and owner.sync_status().cloud_reachable, what="the owner to connect")
        cloud.emulator.outage("503")
        start = time.monotonic()
        with pytest.raises(StorageError, match="could not reach the cloud"):
            other.force_sync()
        assert time.monotonic() - start < 20
    finally:
        cloud.emulator.outage(None)
        other.close()
        owner.close()


def test_parked_rows_are_sent_again_on_force_sync_and_at_start_up_once_the_cause_is_fixed(cloud, tmp_path, embedder):
    store = device(cloud, tmp_path / "a.db", embedder)
    store.open()
    try:
        wait_until(lambda: store.sync_status().cloud_reachable is True, what="the first connection")
        # A token whose D1 permission was revoked: a definitive refusal, every row parked.
        cloud.emulator.inject(Fault(path=r"/query$", status=403, code=10000, message="Authentication error", times=2))
        first, _ = service(store).store("parked until the token is fixed, about herons")
        wait_until(lambda: store.sync_status().parked == 1, what="the refused row to be parked")
        assert cloud.emulator.faults[-1].times == 0  # the token is fixed now
        store.force_sync()
        assert store.sync_status().parked == 0 and first.content_hash in cloud.rows()

        cloud.emulator.inject(Fault(path=r"/query$", status=403, code=10000, message="Authentication error", times=2))
        second, _ = service(store).store("parked again, then the server restarts, about egrets")
        wait_until(lambda: store.sync_status().parked == 1, what="the second row to be parked")
    finally:
        store.close()
    again = device(cloud, tmp_path / "a.db", embedder)  # a restart after the fix
    again.open()
    try:
        wait_until(lambda: drained(again) and again.sync_status().parked == 0, what="the parked row to be sent")
        assert second.content_hash in cloud.rows()
    finally:
        again.close()


def test_a_rate_limited_sync_waits_out_retry_after_instead_of_retrying_at_once(cloud, tmp_path, embedder):
    # One try per call, so what is measured is the sync's own waiting; it would pull all the time otherwise.
    store = device(cloud, tmp_path / "a.db", embedder, sync_interval=0.01, retry=RetryPolicy(max_tries=1))
    store.open()
    try:
        wait_until(lambda: store.sync_status().cloud_reachable is True, what="the first connection")
        cloud.emulator.inject(Fault(path=r"/query$", status=429, code=971, message="Please wait and consider "
                                    "throttling your request speed", retry_after=3, times=1000))
        wait_until(lambda: any(f.times < 1000 for f in cloud.emulator.faults), what="the first 429")
        time.sleep(2.0)  # inside the 3 s the cloud asked for: nothing but the client's own retries may go out
        asked = 1000 - cloud.emulator.faults[-1].times
        assert asked <= 2, f"{asked} requests during Retry-After"
    finally:
        store.close()


def test_a_restarted_server_checks_only_what_changed_and_sync_status_counts_todays_cloud_usage(cloud, tmp_path,
                                                                                              embedder):
    first = device(cloud, tmp_path / "a.db", embedder)
    first.open()
    try:
        svc = service(first)
        for i in range(120):
            svc.store(f"memory {i} about the quota of a restarted server")
        wait_until(lambda: drained(first), what="the first sync")
        first.force_sync()  # a full comparison: it reads every row
        full_read = first.engine.cloud.client.usage.d1_rows_read
        usage = first.sync_status().cloud_usage_today
        assert usage.api_calls > 0 and usage.d1_rows_read >= 120 and usage.d1_rows_written >= 120
    finally:
        first.close()
    # Those memories were written two hours ago (on both sides); the last check was a moment ago.
    cloud.emulator.databases[cloud.database][1].execute("UPDATE memories SET updated_at = updated_at - 7200")
    with sqlite3.connect(tmp_path / "a.db") as conn:
        conn.execute("UPDATE memories SET updated_at = updated_at - 7200")
    again = device(cloud, tmp_path / "a.db", embedder)  # Claude Desktop restarts its server
    again.open()
    try:
        wait_until(lambda: again.engine.cloud.client.usage.api_calls > 0 and drained(again), what="the start-up sync")
        wait_until(lambda: (again.sync_status().last_sync_at or 0) > 0, what="the start-up cycle")
        assert again.engine.cloud.client.usage.d1_rows_read < 60 < full_read  # narrow: not every row again
    finally:
        again.close()


def test_a_health_probe_alive_during_a_comparison_is_not_sent_to_the_cloud(cloud, tmp_path, embedder):
    from server.record import PROBE_TAG

    store = device(cloud, tmp_path / "a.db", embedder, may_own_sync=False)  # the test drives the engine
    store.open()
    store.cloud.open()
    try:
        svc = service(store)
        kept, _ = svc.store("a real memory, about kingfishers")
        probe, _ = svc.store("mcp-memory installer probe 1234", tags=[PROBE_TAG])  # the smoke test's
        store.engine.reconcile()  # a start-up comparison while the probe exists
        store.engine.push_all()
        svc.delete(probe.content_hash)  # the smoke test ends: a probe leaves no tombstone to send
        store.engine.push_all()
        assert set(cloud.rows()) == {kept.content_hash}
    finally:
        store.close()
