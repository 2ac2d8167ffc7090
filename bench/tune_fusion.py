"""Choose the hybrid search's dense weight on several sets at once (in-process: the candidates of each
question are computed once, then fused with every weight). Prints R@5 per set and weight.

    .venv/bin/python bench/tune_fusion.py --sets handwritten locomo-observations locomo-turns
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_search import SETS  # noqa: E402
from server.embeddings.factory import load_embedder  # noqa: E402
from server.search import fusion  # noqa: E402
from server.search.lexical import identifiers  # noqa: E402
from server.service import MemoryService  # noqa: E402
from server.settings import settings_from_values  # noqa: E402
from server.storage import local_search  # noqa: E402
from server.storage.base import MemoryFilter  # noqa: E402
from server.storage.sqlite_vec import SqliteVecStorage  # noqa: E402

WEIGHTS = (1.0, 0.9, 0.85, 0.84, 0.83, 0.82, 0.8, 0.75, 0.7, 0.6)


def evaluate(name: str, embedder, limit: int) -> dict[tuple[float, int], list[float]]:
    scores: dict[tuple[float, int], list[float]] = {(w, k): [] for w in WEIGHTS for k in (1, 5)}
    for n, case in enumerate(SETS[name]()):
        if limit and n >= limit:
            break
        with tempfile.TemporaryDirectory() as folder:
            settings = settings_from_values({"MCP_MEMORY_BASE_DIR": folder})
            storage = SqliteVecStorage(settings.database_path, settings.sqlite_pragmas, embedder)
            storage.open()
            service = MemoryService(storage, settings.max_content_length)
            key_of = {}
            for content, key in case.memories:
                memory, _ = service.store(content)
                key_of.setdefault(memory.content_hash, key)
            storage._load_index()  # the in-memory index, as a warm server has it
            with storage._read() as conn:
                ids = {row[0]: key_of.get(row[1]) for row in conn.execute("SELECT id, content_hash FROM memories")}
                for question, answers, _ in case.questions:
                    vector = storage.vectors.one(question)
                    dense = local_search.dense_candidates(conn, storage._index, storage._chunks, vector, 50,
                                                          MemoryFilter(), None, storage._scan_connection)
                    lexical = local_search.lexical_candidates(conn, question, 50, MemoryFilter())
                    dense.update(local_search.dense_scores(conn, storage._index, storage._chunks, vector,
                                                           [i for i in lexical if i not in dense]))
                    exact = local_search.containing(conn, list(dense), identifiers(question))
                    any_hit = name == "longmemeval"
                    for weight in WEIGHTS:
                        ranked = [ids[i] for i, _ in fusion.fuse(dense, lexical, weight, exact)]
                        for k in (1, 5):
                            top = set(ranked[:k])
                            scores[(weight, k)].append(float(bool(top & answers)) if any_hit
                                                       else len(top & answers) / len(answers))
            storage.close()
    return scores


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="*", default=["handwritten", "locomo-observations", "locomo-turns"])
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    embedder = load_embedder("onnx")
    results = {name: evaluate(name, embedder, args.limit) for name in args.sets}
    print("| dense weight | " + " | ".join(f"{s} R@1 | {s} R@5" for s in args.sets) + " |")
    print("|---|" + "---|---|" * len(args.sets))
    for weight in WEIGHTS:
        print(f"| {weight} | " + " | ".join(f"{100 * statistics.fmean(results[s][(weight, k)]):.2f}"
                                           for s in args.sets for k in (1, 5)) + " |")


if __name__ == "__main__":
    main()
