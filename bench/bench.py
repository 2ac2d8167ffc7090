"""Benchmark of the sqlite_vec backend through a real MCP client over stdio.

    .venv/bin/python bench/bench.py                 # 1k, 10k and 100k memories
    .venv/bin/python bench/bench.py --sizes 1000    # a quick run

For each size it builds a database of realistic sentence embeddings (real model; cached under
bench/.cache), then spawns `python -m server` and measures: spawn -> initialize answered, spawn -> first
search answered, store_memory and retrieve_memory latency (median, p95; timed once the server reports its
vector index loaded, which it does in the background after a cold start), recall@10 against an exact
search (sqlite-vec's vec_distance_cosine over every row), and the server's peak RSS. For reference in
the same run: a plain numpy brute-force scan (the float32 floor), the server's own index (int8 prefilter,
then float32 for the rows it keeps) and sqlite-vec's SQL scan, over the same vectors.
Figures are printed as a table; nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SEARCH_PASSES = 3  # 40 questions, three times, each time worded anew: 115 timed searches per size
sys.path.insert(0, str(REPO))

from mcp import Client, StdioServerParameters  # noqa: E402

from server.embeddings.factory import load_embedder  # noqa: E402
from server.service import content_hash  # noqa: E402
from server.settings import settings_from_values  # noqa: E402
from server.storage.local import sqlite_driver  # noqa: E402
from server.record import iso_utc  # noqa: E402
from server.storage.local.sqlite_vec import SqliteVecStorage  # noqa: E402

CACHE = REPO / "bench" / ".cache"
SUBJECTS = ["Alice", "Bob", "the team", "our client", "the CI job", "Priya", "the database", "the new hire",
            "Marcus", "the release", "my manager", "the API", "the cache", "the designer", "Chen", "the on-call"]
VERBS = ["fixed", "reviewed", "postponed", "discussed", "broke", "migrated", "documented", "tested", "deployed",
         "rewrote", "benchmarked", "profiled", "refactored", "estimated", "cancelled", "approved"]
OBJECTS = ["the login page", "the billing service", "a memory leak", "the onboarding guide", "the search index",
           "the invoice export", "a flaky test", "the mobile app", "the backup script", "the pricing table",
           "the dark mode theme", "the SQL schema", "a race condition", "the payment webhook", "the analytics",
           "the email templates", "the Kubernetes config", "the recipe for sourdough", "the travel budget",
           "the quarterly report", "the garden irrigation", "the GPU drivers", "the wedding playlist"]
CONTEXTS = ["on Monday", "before the deadline", "after lunch", "during the outage", "for the Berlin office",
            "with a lot of coffee", "in the retro", "late at night", "while pairing", "for version 2",
            "after customer complaints", "in Python", "using Rust", "in the staging cluster", "at the offsite",
            "for the audit", "despite the rain", "ahead of the launch", "with help from support", "in one hour"]


def sentences(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out, seen = [], set()
    while len(out) < n:
        text = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(CONTEXTS)} (#{len(out)})"
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def embedded_corpus(n: int) -> tuple[list[str], np.ndarray]:
    texts = sentences(n, seed=1)
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"corpus-{n}.npy"
    if path.exists():
        return texts, np.load(path)
    embedder = load_embedder("onnx")
    print(f"  embedding {n} sentences once (cached in {path.name})...", file=sys.stderr)
    vectors = np.concatenate([embedder.embed(texts[i : i + 256]) for i in range(0, n, 256)])
    np.save(path, vectors)
    return texts, vectors


def build_database(path: Path, texts: list[str], vectors: np.ndarray) -> None:
    """Bulk-load through the backend's own schema (migrations), skipping the per-call embedding."""
    settings = settings_from_values({"MCP_MEMORY_SQLITE_PATH": str(path)})

    class Precomputed:  # stands in for the model only while loading rows we already embedded
        engine, model_name, dimension = "onnx", "all-MiniLM-L6-v2", 384

    store = SqliteVecStorage(path, settings.sqlite_pragmas, Precomputed())  # type: ignore[arg-type]
    store.open()
    store.close()
    conn = sqlite_driver.connect(path, settings.sqlite_pragmas, sqlite_driver.pick_driver())
    now = time.time()
    conn.execute("BEGIN")
    for i, (text, vector) in enumerate(zip(texts, vectors), 1):
        ts = now - (len(texts) - i) * 60
        conn.execute(
            "INSERT INTO memories (id, content, content_hash, tags, memory_type, metadata, created_at, created_at_iso,"
            " updated_at, updated_at_iso) VALUES (?, ?, ?, ?, 'note', '{}', ?, ?, ?, ?)",
            (i, text, content_hash(text), json.dumps([f"t{i % 50}"]), ts, iso_utc(ts), ts, iso_utc(ts)),
        )
        conn.execute("INSERT INTO memory_tags (tag, memory_id) VALUES (?, ?)", (f"t{i % 50}", i))
        conn.execute("INSERT INTO memory_vectors (memory_id, embedding) VALUES (?, ?)", (i, vector.tobytes()))
    conn.execute("INSERT INTO vector_log (memory_id, op) VALUES (?, 'add')", (len(texts),))
    conn.execute("COMMIT")
    conn.close()


def exact_top10(path: Path, query: np.ndarray) -> list[str]:
    settings = settings_from_values({"MCP_MEMORY_SQLITE_PATH": str(path)})
    conn = sqlite_driver.connect(path, settings.sqlite_pragmas, sqlite_driver.pick_driver())
    rows = conn.execute(
        "SELECT m.content_hash FROM memory_vectors v JOIN memories m ON m.id = v.memory_id "
        "ORDER BY vec_distance_cosine(v.embedding, ?) LIMIT 10",
        (query.astype(np.float32).tobytes(),),
    ).fetchall()
    conn.close()
    return [r[0] for r in rows]


def sqlite_vec_scan_ms(path: Path, queries: np.ndarray) -> float:
    settings = settings_from_values({"MCP_MEMORY_SQLITE_PATH": str(path)})
    conn = sqlite_driver.connect(path, settings.sqlite_pragmas, sqlite_driver.pick_driver())
    times = []
    for q in queries[:5]:
        t = time.perf_counter()
        conn.execute("SELECT memory_id FROM memory_vectors ORDER BY vec_distance_cosine(embedding, ?) LIMIT 10",
                     (q.tobytes(),)).fetchall()
        times.append((time.perf_counter() - t) * 1000)
    conn.close()
    return statistics.median(times)


def numpy_scan_ms(vectors: np.ndarray, queries: np.ndarray) -> float:
    times = []
    for q in queries:
        t = time.perf_counter()
        scores = vectors @ q
        top = np.argpartition(-scores, 10)[:10]
        top[np.argsort(-scores[top])]
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def index_search_ms(vectors: np.ndarray, queries: np.ndarray) -> float:
    """The server's in-memory index over the same vectors: the 50 dense candidates of a hybrid search."""
    from server.storage.local.vector_index import VectorIndex

    index = VectorIndex(vectors.shape[1])
    index.reset(np.arange(1, len(vectors) + 1), vectors.copy(), last_seq=0)
    times = []
    for q in queries:
        t = time.perf_counter()
        index.search(q, 50)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


async def index_loaded(client: Client, seconds: float = 60.0) -> None:
    """Wait (bounded) until the server has its vector index in memory. It loads in the background after a
    cold start (0.5-1 s at 100k memories); until then searches scan in SQL and the load competes with
    requests for the two cores."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        health = await client.call_tool("check_database_health", {})
        if health.is_error:
            raise SystemExit(f"check_database_health failed: {health.content[0].text}")
        if health.structured_content["details"]["vector_index"]["loaded"]:
            return
        await asyncio.sleep(0.1)
    raise SystemExit(f"the vector index was not loaded after {seconds:.0f} s")


def server_pid() -> int | None:
    """The spawned server: our child process running `-m server`."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"server" in cmd:
            return int(entry.name)
    return None


def peak_rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


async def measure(path: Path, queries: list[str], query_vectors: np.ndarray, runs: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")}
    env.update(MCP_MEMORY_SQLITE_PATH=str(path), MCP_LOG_LEVEL="WARNING")
    params = StdioServerParameters(command=sys.executable, args=["-m", "server"], env=env, cwd=str(REPO))
    init_times, first_search = [], []
    result: dict[str, float] = {}
    for run in range(runs):
        t0 = time.perf_counter()
        async with Client(params) as client:
            init_times.append(time.perf_counter() - t0)
            await client.call_tool("retrieve_memory", {"query": queries[0], "n_results": 10})
            first_search.append(time.perf_counter() - t0)
            if run < runs - 1:
                continue
            pid = server_pid()
            await index_loaded(client)  # cold start is timed above; stores and searches in the steady state
            stores = []
            for n in range(60):
                t = time.perf_counter()
                await client.call_tool("store_memory", {"content": f"benchmark store {n} {time.time()}", "tags": ["b"]})
                stores.append((time.perf_counter() - t) * 1000)
            retrieves, hits = [], []
            for n, q in enumerate(queries * SEARCH_PASSES):  # the default mode (hybrid: vectors and FTS5)
                q = q if n < len(queries) else f"{q} ({n // len(queries)})"  # each question new to the server
                t = time.perf_counter()
                await client.call_tool("retrieve_memory", {"query": q, "n_results": 10})
                retrieves.append((time.perf_counter() - t) * 1000)
            for q in queries:  # recall of the semantic ranking against an exact scan
                answer = await client.call_tool("retrieve_memory", {"query": q, "n_results": 10, "mode": "semantic"})
                hits.append([r["content_hash"] for r in answer.structured_content["results"]])
            await client.call_tool("delete_by_tag", {"tags": ["b"]})
            result["rss_mb"] = peak_rss_mb(pid) or float("nan")
    recall = []
    for got, qv in zip(hits, query_vectors):
        truth = exact_top10(path, qv)
        recall.append(len(set(got) & set(truth)) / len(truth))
    result.update(
        init_s=statistics.median(init_times), first_search_s=statistics.median(first_search),
        store_med=statistics.median(stores[10:]), store_p95=percentile(stores[10:], 95),
        retrieve_med=statistics.median(retrieves[5:]), retrieve_p95=percentile(retrieves[5:], 95),
        recall=statistics.mean(recall),
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--runs", type=int, default=3, help="cold starts per size (median reported)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    query_texts = [f"who {v} {o}?" for v, o in zip(VERBS * 3, random.Random(5).sample(OBJECTS * 3, 48))][:40]
    query_vectors = load_embedder("onnx").embed(query_texts)
    rows = []
    with tempfile.TemporaryDirectory(prefix="mcp-memory-bench-") as tmp:
        for n in sizes:
            print(f"size {n}:", file=sys.stderr)
            texts, vectors = embedded_corpus(n)
            path = Path(tmp) / f"bench-{n}.db"
            build_database(path, texts, vectors)
            figures = asyncio.run(measure(path, query_texts, query_vectors, args.runs))
            figures["numpy_ms"] = numpy_scan_ms(vectors, query_vectors)
            figures["index_ms"] = index_search_ms(vectors, query_vectors)
            figures["sqlvec_ms"] = sqlite_vec_scan_ms(path, query_vectors)
            rows.append((n, figures))
    cpu = platform.processor() or platform.machine()
    print(f"\nmachine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}; medians of "
          f"{args.runs} cold starts, 50 stores, {SEARCH_PASSES * 40 - 5} searches (warm-up excluded)\n")
    print("| memories | initialize | first search | store med / p95 | retrieve med / p95 | recall@10 | peak RSS |"
          " numpy scan | index search | sqlite-vec scan |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, f in rows:
        print(f"| {n:,} | {f['init_s']:.2f} s | {f['first_search_s']:.2f} s | {f['store_med']:.1f} / "
              f"{f['store_p95']:.1f} ms | {f['retrieve_med']:.1f} / {f['retrieve_p95']:.1f} ms | {f['recall']:.3f} | "
              f"{f['rss_mb']:.0f} MB | {f['numpy_ms']:.1f} ms | {f['index_ms']:.1f} ms | {f['sqlvec_ms']:.1f} ms |")


if __name__ == "__main__":
    main()
