"""What the sync costs in D1, which bills every row a query visits: each query of the sync reads through an index
(its EXPLAIN QUERY PLAN has no scan of a table that grows), and a narrow drift check reads only what changed."""

from __future__ import annotations

import re
import time

import pytest

from server.record import iso_utc
from server.service import content_hash
from tests.support.hybrid import Cloud, device, service
from tests.support.database import writing

pytestmark = pytest.mark.slow

BOUNDED = {"schema_migrations", "shared_settings"}  # a handful of rows each, whatever the number of memories



def _seed(cloud: Cloud, store, count: int, when: float) -> None:
    """`count` memories on both sides, as after weeks of use, and old deletes and log rows."""
    rows = [(f"seeded memory {i}", content_hash(f"seeded memory {i}"), when, iso_utc(when)) for i in range(count)]
    insert = ("INSERT INTO memories (content, content_hash, tags, memory_type, metadata, created_at, created_at_iso, "
              "updated_at, updated_at_iso) VALUES (?, ?, '[]', NULL, '{}', ?, ?, ?, ?)")
    params = [(c, h, t, i, t, i) for c, h, t, i in rows]
    conn = cloud.emulator.databases[cloud.database][1]
    conn.executemany(insert, params)
    conn.executemany("INSERT INTO tombstones (content_hash, deleted_at) VALUES (?, ?)",
                     [(content_hash(f"gone {i}"), when) for i in range(count // 2)])
    conn.executemany("INSERT INTO change_log (content_hash, changed_at) VALUES (?, ?)",
                     [(content_hash(f"seeded memory {i}"), when) for i in range(count)])
    with writing(store.local.path) as local:
        local.executemany(insert, params)


def _scans(plans: list[tuple[str, list[str]]], tables: set[str]) -> list[tuple[str, str]]:
    found = []
    for sql, details in plans:
        for detail in details:
            match = re.match(r"SCAN (\w+)\b(?! VIRTUAL TABLE)", detail)
            if not match:
                continue
            name = match.group(1)
            alias = re.search(rf"\b(\w+)\s+(?:AS\s+)?{name}\b", sql, re.IGNORECASE)
            name = name if name in tables else (alias.group(1) if alias else name)
            if name in tables and name not in BOUNDED:
                found.append((sql[:100], detail))
    return found


def test_every_sync_query_reads_through_an_index_and_a_narrow_check_reads_only_what_changed(cloud, tmp_path,
                                                                                             embedder):
    store = device(cloud, tmp_path / "a.db", embedder, may_own_sync=False)  # the test drives the engine
    store.open()
    store.cloud.open()
    engine, client = store.engine, store.engine.cloud.client
    try:
        _seed(cloud, store, 3000, time.time() - 40 * 86_400)
        svc = service(store)
        fresh = [svc.store(f"written today, memory {i}, about what the sync reads")[0] for i in range(20)]
        svc.delete(fresh[0].content_hash)
        cloud.emulator.plans.clear()
        engine.push_all()
        engine.pull()
        before = client.usage.snapshot()["d1_rows_read"]
        engine.reconcile(since=time.time() - 3600)  # the hourly drift check, and each start-up's
        narrow = client.usage.snapshot()["d1_rows_read"] - before
        conn = cloud.emulator.databases[cloud.database][1]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert _scans(cloud.emulator.plans, tables) == []
        plans = [d for _, details in cloud.emulator.plans for d in details]
        assert any("USING INDEX memories_by_updated" in d for d in plans)
        assert any("USING INDEX tombstones_by_deleted" in d for d in plans)
        assert any("USING INDEX change_log_by_time" in d for d in plans)
        assert narrow < 200, narrow  # what changed in the hour (20 memories, a delete), not 3,000 rows
        before = client.usage.snapshot()["d1_rows_read"]
        engine.reconcile()  # the daily full comparison reads every row, once
        assert client.usage.snapshot()["d1_rows_read"] - before >= 3000
    finally:
        store.close()
