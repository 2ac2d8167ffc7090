"""Benchmark the association graph: rebuilding the table from 1,500 association memories, the queries,
and discovery (find_pairs) over many memories.

    .venv/bin/python bench/bench_graph.py [--memories 1000] [--associations 1500] [--runs 5] [--discover 10000]
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
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server import graph  # noqa: E402
from server.storage.local import graph_table  # noqa: E402
from server.embeddings.factory import load_embedder  # noqa: E402
from server.service import content_hash  # noqa: E402
from server.settings import parse_pragmas  # noqa: E402
from server.record import Memory, iso_utc  # noqa: E402
from server.storage.local.sqlite_vec import SqliteVecStorage  # noqa: E402
from tests.support.database import reading, writing


def memory(content: str, tags: tuple[str, ...] = (), memory_type: str | None = None,
           metadata: dict | None = None) -> Memory:
    now = time.time()
    return Memory(content=content, content_hash=content_hash(content), tags=tags, memory_type=memory_type,
                  metadata=metadata or {}, created_at=now, created_at_iso=iso_utc(now), updated_at=now,
                  updated_at_iso=iso_utc(now))


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
    parser.add_argument("--discover", type=int, default=10_000, help="memories for the find_pairs timing")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, numpy {np.__version__}")
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteVecStorage(Path(tmp) / "graph.db", parse_pragmas("busy_timeout=5000"), load_embedder("onnx"))
        store.open()
        nodes = [memory(f"memory {i} about topic {i % 37} and detail {i * 7919 % 1000}") for i in range(args.memories)]
        store.store_many(nodes, record=False)
        pairs: set[tuple[str, str]] = set()
        while len(pairs) < args.associations:
            a, b = sorted(rng.sample(range(args.memories), 2))
            pairs.add(tuple(sorted((nodes[a].content_hash, nodes[b].content_hash))))
        associations = []
        for a, b in sorted(pairs):
            content, tags, metadata = graph.association_memory_fields(a, b, round(rng.uniform(0.6, 0.95), 4),
                                                                      ["semantic"])
            associations.append(memory(content, tags, "association", metadata))
        start = time.perf_counter()
        store.store_many(associations, record=False)  # the normal store path: each writes its edge
        stored_s = time.perf_counter() - start

        def rebuild() -> None:
            with writing(store.path) as conn:
                assert graph_table.rebuild(conn) == args.associations

        probes = [(rng.choice(nodes).content_hash, rng.choice(nodes).content_hash) for _ in range(50)]

        def queries(kind: str) -> None:
            with reading(store.path) as conn:
                for a, b in probes:
                    graph_table.connected(conn, a, 2) if kind == "connected" else graph_table.shortest_path(conn, a, b, 6)

        def discover_here() -> None:
            with reading(store.path) as conn:
                hashes, vectors = graph_table.memory_vectors(conn)
                known = graph_table.edge_pairs(conn)
            graph.find_pairs(hashes, vectors, 0.6, 0.95, 50, known)

        print(f"{args.memories} memories, {args.associations} association memories; medians of {args.runs} runs")
        print(f"storing the associations (embedding included): {stored_s * 1000:8.1f} ms")
        print(f"rebuild:                             {median_ms(rebuild, args.runs):8.1f} ms")
        print(f"connected (2 hops), per call:        {median_ms(lambda: queries('connected'), args.runs) / 50:8.2f} ms")
        print(f"shortest path (<=6 hops), per call:  {median_ms(lambda: queries('path'), args.runs) / 50:8.2f} ms")
        print(f"discovery over {args.memories} memories (read + pairs): {median_ms(discover_here, args.runs):8.1f} ms")
        store.close()

    n = args.discover  # discovery alone, on random unit vectors of the model's dimension
    vectors = np.random.default_rng(1).normal(size=(n, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    hashes = [content_hash(str(i)) for i in range(n)]
    tracemalloc.start()
    start = time.perf_counter()
    found = graph.find_pairs(hashes, vectors, -1.0, 1.0, 50, set())  # a band that admits every pair
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"find_pairs over {n} memories ({n * (n - 1) // 2} pairs, every one in the band), limit 50: "
          f"{seconds:.2f} s, peak {peak / 2**20:.0f} MiB beyond the vectors ({len(found)} pairs)")


if __name__ == "__main__":
    main()
