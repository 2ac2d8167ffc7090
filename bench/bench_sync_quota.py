"""What the hybrid sync costs in Cloudflare per day, at the default intervals, for an idle device and for one
storing 200 memories a day, at 1k and 100k memories: API calls and D1 rows read and written, as D1 reports
them in each answer's `meta`. D1 bills rows visited, not rows returned: the emulator counts, for each statement,
the rows returned plus every row of each table its query plan scans in full (EXPLAIN QUERY PLAN).

Each sync step is run for real against the emulator and measured; a day is the sum of its steps at the
default frequencies (MCP_HYBRID_SYNC_INTERVAL=300 s pulls, a narrow drift check every
MCP_HYBRID_DRIFT_CHECK_INTERVAL=3600 s, one full comparison a day, RESTARTS start-ups).

    .venv/bin/python bench/bench_sync_quota.py --sizes 1000 100000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from server.embeddings.factory import load_embedder  # noqa: E402
from server.service import MemoryService  # noqa: E402
from server.record import iso_utc  # noqa: E402
from server.service import content_hash  # noqa: E402
from tests.support.hybrid import Cloud, device  # noqa: E402
from tests.support.database import writing

RESTARTS = 20  # server start-ups a day (Claude Desktop restarts its servers often)
PULLS, DRIFTS = 86_400 // 300, 86_400 // 3600


def measure(step, client) -> dict[str, int]:
    before = client.usage.snapshot()
    step()
    after = client.usage.snapshot()
    return {k: after[k] - before[k] for k in after}


def seed(cloud: Cloud, count: int, old: float) -> None:
    """`count` memories already in D1 (as after weeks of use)."""
    conn = cloud.emulator.databases[cloud.database][1]
    rows = [(f"seeded memory {i}", content_hash(f"seeded memory {i}"), "[]", None, "{}", old, iso_utc(old), old,
             iso_utc(old)) for i in range(count)]
    conn.executemany("INSERT INTO memories (content, content_hash, tags, memory_type, metadata, created_at, "
                     "created_at_iso, updated_at, updated_at_iso) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def run(size: int, embedder) -> dict[str, dict[str, int]]:
    with tempfile.TemporaryDirectory() as tmp:
        cloud = Cloud(Path(tmp))
        store = device(cloud, Path(tmp) / "a.db", embedder, may_own_sync=False)
        store.open()
        engine, client = store.engine, store.engine.cloud.client
        engine.cloud.open()
        old = time.time() - 30 * 86_400
        seed(cloud, size, old)
        with writing(store.local.path) as conn:  # the same rows in the local copy (the sync reads rows only)
            conn.executemany("INSERT INTO memories (content, content_hash, tags, memory_type, metadata, created_at, "
                             "created_at_iso, updated_at, updated_at_iso) VALUES (?, ?, '[]', NULL, '{}', ?, ?, ?, ?)",
                             [(f"seeded memory {i}", content_hash(f"seeded memory {i}"), old, iso_utc(old), old,
                               iso_utc(old)) for i in range(size)])
        costs = {"full comparison": measure(engine.reconcile, client)}
        costs["narrow drift check"] = measure(lambda: engine.reconcile(since=time.time() - 3600), client)
        costs["start-up"] = measure(lambda: (engine.cloud.open(), engine.reconcile(since=time.time() - 3600)),
                                    client)
        costs["pull, nothing new"] = measure(engine.pull, client)
        svc = MemoryService(store, 5000)
        for i in range(200):
            svc.store(f"a new memory {i} written today about the sync budget")
        costs["push 200 new memories"] = measure(engine.push_all, client)
        store.close()
        cloud.stop()
    return costs


def day(costs: dict[str, dict[str, int]], writes: bool) -> dict[str, int]:
    total = {k: 0 for k in costs["pull, nothing new"]}
    plan = [("pull, nothing new", PULLS), ("narrow drift check", DRIFTS), ("start-up", RESTARTS),
            ("full comparison", 1)]
    if writes:
        plan.append(("push 200 new memories", 1))
    for step, times in plan:
        for k, v in costs[step].items():
            total[k] += v * times
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    args = parser.parse_args()
    embedder = load_embedder("onnx")
    print(f"per day: {PULLS} pulls, {DRIFTS} narrow drift checks, {RESTARTS} start-ups (a narrow check each), "
          "1 full comparison")
    print("| memories | device | API calls/day | D1 rows read/day | D1 rows written/day |")
    print("|---:|---|---:|---:|---:|")
    for size in args.sizes:
        costs = run(size, embedder)
        for label, writes in (("idle", False), ("200 new memories/day", True)):
            t = day(costs, writes)
            print(f"| {size:,} | {label} | {t['api_calls']:,} | {t['d1_rows_read']:,} | {t['d1_rows_written']:,} |")
        for step, c in costs.items():
            print(f"|  | one {step} | {c['api_calls']} | {c['d1_rows_read']:,} | {c['d1_rows_written']:,} |")


if __name__ == "__main__":
    main()
