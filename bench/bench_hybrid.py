"""Benchmark the hybrid backend: local latency beside sqlite_vec (the cloud is never on the request path)
and sync throughput against the Cloudflare emulator, batched versus one operation per request.

    .venv/bin/python bench/bench_hybrid.py [--memories 500] [--runs 3]

Prints medians. The emulator runs in a process of its own over real HTTP on 127.0.0.1 (in this process its
work would hold the GIL against the calls being measured), so the figures measure our client and batching,
not Cloudflare's network: each request to the real API costs tens of milliseconds more, which makes
batching matter more, not less.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server.embeddings.factory import load_embedder  # noqa: E402
from server.service import MemoryService  # noqa: E402
from server.settings import parse_pragmas  # noqa: E402
from server.storage.local.sqlite_vec import SqliteVecStorage  # noqa: E402
from server.cloudflare.client import CloudflareClient  # noqa: E402
from server.settings import HybridSettings  # noqa: E402
from server.storage.cloud.cloudflare import CloudflareStorage  # noqa: E402
from server.sync.hybrid import HybridStorage  # noqa: E402
from tests.support.cloudflare_emulator import ACCOUNT  # noqa: E402
from tests.support.hybrid import FAST_RETRY, MODEL  # noqa: E402

EMULATOR = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tests.support.cloudflare_emulator import CloudflareEmulator
emulator = CloudflareEmulator(Path(sys.argv[1])).start()
emulator.add_index(dimensions=768)
print(emulator.base_url, emulator.add_database(), flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
emulator.stop()
"""


class RemoteCloud:
    """The emulator in a child process: its CPU work does not compete for this process's GIL."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.proc = subprocess.Popen([sys.executable, "-c", EMULATOR, str(tmp), str(Path(__file__).parent.parent)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.base_url, self.database = self.proc.stdout.readline().split()

    def storage(self) -> CloudflareStorage:
        client = CloudflareClient("good-token", ACCOUNT, base_url=self.base_url, retry=FAST_RETRY)
        return CloudflareStorage(client, self.database, "mcp-memory-index", MODEL, {"max_content_length": "5000"})

    def row_count(self) -> int:
        with sqlite3.connect(self.tmp / f"{self.database}.db") as conn:
            return conn.execute("SELECT count(*) FROM memories").fetchone()[0]

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def device(cloud: RemoteCloud, path: Path, embedder, **config) -> HybridStorage:
    local = SqliteVecStorage(path, parse_pragmas("busy_timeout=15000"), embedder, outbox=True)
    return HybridStorage(local, cloud.storage(), HybridSettings(**{"sync_interval": 1.0, **config}), poll=0.05)


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - start) * 1000


def local_latency(embedder, tmp: Path, n: int) -> dict[str, tuple[float, float]]:
    """store and retrieve medians (ms) for sqlite_vec and hybrid, interleaved in one run."""
    tmp.mkdir(parents=True, exist_ok=True)
    cloud = RemoteCloud(tmp)
    plain = SqliteVecStorage(tmp / "plain.db", parse_pragmas("busy_timeout=15000"), embedder)
    hybrid = device(cloud, tmp / "hybrid.db", embedder)
    plain.open()
    hybrid.open()
    try:
        services = {"sqlite_vec": MemoryService(plain, 5000), "hybrid": MemoryService(hybrid, 5000)}
        times: dict[str, dict[str, list[float]]] = {k: {"store": [], "retrieve": []} for k in services}
        for i in range(n):
            order = list(services.items())
            for name, svc in order if i % 2 else order[::-1]:  # alternate who goes first: no order bias
                times[name]["store"].append(timed(svc.store, f"benchmark memory {i} about lighthouses {i * 31}"))
                times[name]["retrieve"].append(timed(svc.retrieve, f"lighthouses {i}", 5))
        return {name: (statistics.median(t["store"]), statistics.median(t["retrieve"])) for name, t in times.items()}
    finally:
        hybrid.close()
        plain.close()
        cloud.stop()


def drain_rate(embedder, tmp: Path, n: int, batch_size: int) -> tuple[float, int]:
    """Operations per second pushed from a full outbox, and HTTP requests used."""
    tmp.mkdir(parents=True, exist_ok=True)
    cloud = RemoteCloud(tmp)
    store = device(cloud, tmp / f"drain-{batch_size}.db", embedder, batch_size=batch_size)
    store.local.open()
    try:
        svc = MemoryService(store.local, 5000)
        for i in range(n):
            svc.store(f"queued memory {i} about glaciers {i * 17}")
        store.cloud.open()
        requests = 0

        def count(request) -> None:
            nonlocal requests
            requests += 1

        store.cloud.client._http.event_hooks["request"].append(count)
        start = time.perf_counter()
        store.engine.push_all(max_batches=10 * n)
        seconds = time.perf_counter() - start
        assert cloud.row_count() == n
        return n / seconds, requests
    finally:
        store.local.close()
        store.cloud.close()
        cloud.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--memories", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{platform.platform()}")
    embedder = load_embedder("onnx")
    with tempfile.TemporaryDirectory() as tmp:
        lat = [local_latency(embedder, Path(tmp) / f"lat{r}", args.memories // 2) for r in range(args.runs)]
        print(f"\nlocal latency, {args.memories // 2} operations x {args.runs} runs (median of run medians, ms):")
        print(f"{'backend':<12}{'store':>10}{'retrieve':>10}")
        for name in ("sqlite_vec", "hybrid"):
            store = statistics.median(r[name][0] for r in lat)
            retrieve = statistics.median(r[name][1] for r in lat)
            print(f"{name:<12}{store:>10.2f}{retrieve:>10.2f}")
        print(f"\nsync throughput, {args.memories} queued memories drained to the emulator:")
        print(f"{'batch size':<12}{'ops/s':>10}{'requests':>10}")
        for batch in (1, 50):
            runs = [drain_rate(embedder, Path(tmp) / f"d{batch}-{r}", args.memories, batch) for r in range(args.runs)]
            print(f"{batch:<12}{statistics.median(r[0] for r in runs):>10.1f}{statistics.median(r[1] for r in runs):>10.0f}")


if __name__ == "__main__":
    main()
