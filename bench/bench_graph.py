"""Benchmark the association graph: rebuilding the table from 1,500 association memories, and queries.

    .venv/bin/python bench/bench_graph.py [--memories 1000] [--associations 1500] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server import graph  # noqa: E402
from server.embeddings.factory import load_embedder  # noqa: E402
from server.service import content_hash  # noqa: E402
from server.settings import parse_pragmas  # noqa: E402
from server.storage.base import Memory, iso_utc  # noqa: E402
from server.storage.sqlite_vec import SqliteVecStorage  # noqa: E402


def memory(content: str, tags: tuple[str, ...] = (), metadata: dict | None = None) -> Memory:
    now = time.time()
    return Memory(content=content, content_hash=content_hash(content), tags=tags, metadata=metadata or {},
                  created_at=now, created_at_iso=iso_utc(now), updated_at=now, updated_at_iso=iso_utc(now))


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--memories", type=int, default=1000)
    parser.add_argument("--associations", type=int, default=1500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteVecStorage(Path(tmp) / "graph.db", parse_pragmas("busy_timeout=5000"), load_embedder("onnx"))
        store.open()
        nodes = [memory(f"memory {i} about topic {i % 37} and detail {i * 7919 % 1000}") for i in range(args.memories)]
        store.store_many(nodes, record=False)
        pairs: set[tuple[str, str]] = set()
        while len(pairs) < args.associations:
            a, b = sorted(rng.sample(range(args.memories), 2))
            pairs.add((nodes[a].content_hash, nodes[b].content_hash))
        associations = [memory(f"association {a[:12]} {b[:12]}", ("association", "discovered"),
                               {"similarity": 0.7, "connection_types": ["semantic"], "source_hash": a,
                                "target_hash": b}) for a, b in pairs]
        store.store_many(associations, record=False)

        def rebuild() -> None:
            with store.write_transaction() as conn:
                assert graph.rebuild(conn) == args.associations

        probes = [(rng.choice(nodes).content_hash, rng.choice(nodes).content_hash) for _ in range(50)]

        def queries(kind: str) -> None:
            with store.read_transaction() as conn:
                for a, b in probes:
                    graph.connected(conn, a, 2) if kind == "connected" else graph.shortest_path(conn, a, b, 6)

        print(f"{args.memories} memories, {args.associations} association memories; medians of {args.runs} runs")
        print(f"rebuild:                      {median_ms(rebuild, args.runs):8.1f} ms")
        print(f"connected (2 hops), per call: {median_ms(lambda: queries('connected'), args.runs) / 50:8.2f} ms")
        print(f"shortest path (<=6), per call:{median_ms(lambda: queries('path'), args.runs) / 50:8.2f} ms")
        store.close()


if __name__ == "__main__":
    main()
