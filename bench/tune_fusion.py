"""Choose how the hybrid search fuses meaning and words, on every set at once (in-process).

Each question's candidates are computed once, with what any fusion could use: the cosine similarity of each
candidate, its BM25 relevance, which of the question's words it holds, how many memories hold each word (the
words' IDF), and which candidates hold every identifier. They are kept in the user cache; then every fusion
variant and weight is scored on every set, and R@1 / R@5 printed side by side.

    .venv/bin/python bench/tune_fusion.py                          # every set (the first run collects: ~15 min)
    .venv/bin/python bench/tune_fusion.py --sets distractors handwritten --variants current idf_mass
"""

from __future__ import annotations

import argparse
import math
import pickle
import re
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_search import SETS  # noqa: E402
from server.search import fusion  # noqa: E402
from server.search.lexical import any_of, identifiers, terms  # noqa: E402
from tests.support.database import reading
from server.backends import local_store

_BEFORE = re.compile(r"(?=\S*\d)\S*[A-Za-z]\S*|\S+[_./:\\-]\S+|\b[A-Z]{2,}\b")


def identifiers_before(text: str) -> list[str]:
    """The identifier rule before issue 21, for comparison."""
    found = [re.sub(r"^[^\w]+|[^\w]+$", "", m.group(0)) for m in _BEFORE.finditer(text)]
    return [f.lower() for f in found if len(f) >= 2]


WEIGHTS = (1.0, 0.9, 0.85, 0.83, 0.8, 0.75, 0.7, 0.65, 0.6, 0.5)
CANDIDATES = 50


@dataclass
class Question:
    answers: set[str]
    dense: dict[int, float]  # every candidate's cosine similarity
    lexical: dict[int, float]  # BM25 relevance of the lexical candidates
    idf: list[float]  # each word of the question: its IDF in this store (FTS5's formula)
    holds: dict[int, set[int]]  # candidate -> indexes of the question's words it holds
    exact: list[int]  # candidates holding every identifier of the question (the identifier rule of the code)
    exact_before: list[int]  # the same, by the rule before issue 21 (hyphenated words, times, acronyms counted)
    key_of: dict[int, str] = field(default_factory=dict)
    category: str = ""
    text: str = ""


def collect(name: str, limit: int) -> list[Question]:
    from server.embeddings.factory import load_embedder
    from server.service import MemoryService
    from server.settings import settings_from_values
    from server.storage.local import local_search
    from server.storage.base import MemoryFilter

    embedder = load_embedder("onnx")
    questions: list[Question] = []
    for n, case in enumerate(SETS[name]()):
        if limit and n >= limit:
            break
        with tempfile.TemporaryDirectory() as folder:
            settings = settings_from_values({"MCP_MEMORY_BASE_DIR": folder})
            storage = local_store(settings, embedder=embedder)
            storage.open()
            service = MemoryService(storage, settings.max_content_length)
            key_of = {}
            for content, key in case.memories:
                memory, _ = service.store(content)
                key_of.setdefault(memory.content_hash, key)
            storage._load_index()  # the in-memory index, as a warm server has it
            with reading(storage.path) as conn:
                keys = {row[0]: key_of.get(row[1]) for row in conn.execute("SELECT id, content_hash FROM memories")}
                total = conn.execute("SELECT count(*) FROM memories").fetchone()[0]
                for text, answers, category in case.questions:
                    vector = storage.vectors.one(text)
                    dense = local_search.dense_candidates(conn, storage._index, storage._chunks, vector, CANDIDATES,
                                                          MemoryFilter(), None, storage._scan_connection)
                    lexical = local_search.lexical_candidates(conn, text, CANDIDATES, MemoryFilter())
                    dense.update(local_search.dense_scores(conn, storage._index, storage._chunks, vector,
                                                           [i for i in lexical if i not in dense]))
                    words = terms(text)
                    idf, holds = [], {i: set() for i in dense}
                    for w, word in enumerate(words):
                        matched = {r[0] for r in conn.execute(
                            "SELECT rowid FROM memory_text WHERE memory_text MATCH ?", [any_of([word])])}
                        idf.append(max(1e-6, math.log((total - len(matched) + 0.5) / (len(matched) + 0.5))))
                        for i in matched & holds.keys():
                            holds[i].add(w)
                    exact = local_search.containing(conn, list(dense), identifiers(text))
                    before = local_search.containing(conn, list(dense), identifiers_before(text))
                    questions.append(Question(answers, dense, lexical, idf, holds, exact, before,
                                              {i: keys.get(i) for i in dense}, category, text))
            storage.close()
    return questions


def cached(name: str, limit: int, refresh: bool) -> list[Question]:
    from platformdirs import user_cache_dir

    path = Path(user_cache_dir("mcp-memory")) / "bench" / f"fusion-{name}-{limit}.pickle"
    if path.exists() and not refresh:
        return pickle.loads(path.read_bytes())
    found = collect(name, limit)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(found))
    return found


# -- the variants: (question, weight) -> ranked ids ----------------------------------------------------

def chosen(q: Question, weight: float) -> list[int]:
    """The server's fusion (server/search/fusion.py), with `weight` as its dense weight."""
    words = [str(n) for n in range(len(q.idf))]
    held = {i: q.holds.get(i, set()) for i in q.lexical}
    return [i for i, _, _ in fusion.fuse(q.dense, q.lexical, held, q.idf, words, q.exact, weight)]


def current(q: Question, weight: float) -> list[int]:
    """BM25 divided by the best BM25 of the question, the identifier rule of before (the code before issue 21)."""
    top = max(q.lexical.values(), default=0.0)
    return _blend(q, weight, lambda i: q.lexical.get(i, 0.0) / top if top else 0.0, exact=set(q.exact_before))


def best_scaled(q: Question, weight: float) -> list[int]:
    """BM25 divided by the best BM25 of the question, with the identifier rule of now."""
    top = max(q.lexical.values(), default=0.0)
    return _blend(q, weight, lambda i: q.lexical.get(i, 0.0) / top if top else 0.0)


def _blend(q: Question, weight: float, lexical: Callable[[int], float], bonus: float = fusion.IDENTIFIER_BONUS,
           exact: set[int] | None = None) -> list[int]:
    exact = set(q.exact) if exact is None else exact
    scored = {i: weight * s + (1 - weight) * lexical(i) + (bonus if i in exact else 0.0) for i, s in q.dense.items()}
    return sorted(scored, key=lambda i: -scored[i])


def idf_mass(q: Question, weight: float) -> list[int]:
    """BM25 divided by what the question could score at best: the IDF mass of its own words (capped at 1)."""
    mass = sum(q.idf) or 1.0
    return _blend(q, weight, lambda i: min(1.0, q.lexical.get(i, 0.0) / mass))


def coverage(q: Question, weight: float) -> list[int]:
    """The best-scaled BM25, times the share of the question's IDF mass the memory holds."""
    top = max(q.lexical.values(), default=0.0)
    mass = sum(q.idf) or 1.0
    return _blend(q, weight, lambda i: (q.lexical.get(i, 0.0) / top if top else 0.0)
                  * sum(q.idf[w] for w in q.holds.get(i, ())) / mass)


def held_mass(q: Question, weight: float) -> list[int]:
    """The share of the question's IDF mass the memory holds, without BM25."""
    mass = sum(q.idf) or 1.0
    return _blend(q, weight, lambda i: sum(q.idf[w] for w in q.holds.get(i, ())) / mass if i in q.lexical else 0.0)


def _share(q: Question, i: int) -> float:
    mass = sum(q.idf) or 1.0
    return sum(q.idf[w] for w in q.holds.get(i, ())) / mass if i in q.lexical else 0.0


def coverage2(q: Question, weight: float) -> list[int]:
    """The best-scaled BM25 times the squared share of the question's IDF mass the memory holds: one word of
    five adds almost nothing, every word adds the full share."""
    top = max(q.lexical.values(), default=0.0)
    return _blend(q, weight, lambda i: (q.lexical.get(i, 0.0) / top if top else 0.0) * _share(q, i) ** 2)


def held2(q: Question, weight: float) -> list[int]:
    """The squared share of the question's IDF mass the memory holds."""
    return _blend(q, weight, lambda i: _share(q, i) ** 2)


def idf_mass2(q: Question, weight: float) -> list[int]:
    """BM25 over the question's IDF mass, squared."""
    mass = sum(q.idf) or 1.0
    return _blend(q, weight, lambda i: min(1.0, q.lexical.get(i, 0.0) / mass) ** 2)


def gated(threshold: float) -> Callable[[Question, float], list[int]]:
    """The best-scaled BM25, at full weight when the memory holds at least `threshold` of the question's IDF
    mass, fading with the square of the shortfall below it (one common word of five adds almost nothing)."""
    def rank(q: Question, weight: float) -> list[int]:
        top = max(q.lexical.values(), default=0.0)
        return _blend(q, weight, lambda i: (q.lexical.get(i, 0.0) / top if top else 0.0)
                      * min(1.0, (_share(q, i) / threshold) ** 2))
    return rank


def hard(threshold: float) -> Callable[[Question, float], list[int]]:
    """The best-scaled BM25 of the memories holding at least `threshold` of the question's IDF mass; none else."""
    def rank(q: Question, weight: float) -> list[int]:
        top = max(q.lexical.values(), default=0.0)
        return _blend(q, weight, lambda i: (q.lexical.get(i, 0.0) / top if top else 0.0)
                      * (_share(q, i) >= threshold))
    return rank


def steep(threshold: float, power: float = 4.0) -> Callable[[Question, float], list[int]]:
    def rank(q: Question, weight: float) -> list[int]:
        top = max(q.lexical.values(), default=0.0)
        return _blend(q, weight, lambda i: (q.lexical.get(i, 0.0) / top if top else 0.0)
                      * min(1.0, (_share(q, i) / threshold) ** power))
    return rank


def steep_near(threshold: float, power: float = 4.0, reach: float = 0.75) -> Callable[[Question, float], list[int]]:
    """steep(), and a memory whose meaning is far from the question's best (below `reach` of the best cosine)
    gets its words' share cut in proportion: words decide between memories of similar meaning."""
    def rank(q: Question, weight: float) -> list[int]:
        top = max(q.lexical.values(), default=0.0)
        best = max(q.dense.values(), default=1.0) or 1.0
        return _blend(q, weight, lambda i: (q.lexical.get(i, 0.0) / top if top else 0.0)
                      * min(1.0, (_share(q, i) / threshold) ** power) * min(1.0, q.dense[i] / (reach * best)))
    return rank


def adaptive(low: float, high: float, threshold: float = 0.5, power: float = 4.0) -> Callable[[Question, float], list[int]]:
    """The question decides how much words count: when no memory holds more than `low` of its IDF mass (a
    question in other words) they do not; from `high` up, fully (steep() then weighs each memory)."""
    def rank(q: Question, weight: float) -> list[int]:
        top = max(q.lexical.values(), default=0.0)
        strongest = max((_share(q, i) for i in q.lexical), default=0.0)
        trust = min(1.0, max(0.0, (strongest - low) / (high - low)))
        lexical_weight = (1 - weight) * trust
        exact = set(q.exact)
        scored = {i: (1 - lexical_weight) * s + lexical_weight * (q.lexical.get(i, 0.0) / top if top else 0.0)
                  * min(1.0, (_share(q, i) / threshold) ** power) + (fusion.IDENTIFIER_BONUS if i in exact else 0.0)
                  for i, s in q.dense.items()}
        return sorted(scored, key=lambda i: -scored[i])
    return rank


def counted(need: int = 2, reach: float = 0.0, power: float = 1.0) -> Callable[[Question, float], list[int]]:
    """Words count for a memory holding at least `need` of the question's words (all of them when it has fewer);
    with `reach`, only as far as its meaning is near the best: (cosine / (reach * best)) ** power, capped at 1."""
    def rank(q: Question, weight: float) -> list[int]:
        top = max(q.lexical.values(), default=0.0)
        best = max(q.dense.values(), default=1.0) or 1.0
        wanted = min(need, len(q.idf)) or 1

        def words(i: int) -> float:
            if i not in q.lexical or len(q.holds.get(i, ())) < wanted:
                return 0.0
            near = min(1.0, (max(q.dense[i], 0.0) / (reach * best)) ** power) if reach else 1.0
            return (q.lexical[i] / top if top else 0.0) * near
        return _blend(q, weight, words)
    return rank


def zscores(q: Question, weight: float) -> list[int]:
    """Both signals standardised over the candidate pool."""
    ids = list(q.dense)
    lex = [q.lexical.get(i, 0.0) for i in ids]
    den = [q.dense[i] for i in ids]

    def z(values: list[float]) -> list[float]:
        mean, spread = statistics.fmean(values), statistics.pstdev(values) or 1.0
        return [(v - mean) / spread for v in values]

    scored = {i: weight * d + (1 - weight) * lx + (0.6 if i in q.exact else 0.0)
              for i, d, lx in zip(ids, z(den), z(lex))}
    return sorted(scored, key=lambda i: -scored[i])


VARIANTS = {"chosen": chosen, "current": current, "best_scaled": best_scaled, "idf_mass": idf_mass, "coverage": coverage, "held_mass": held_mass,
            "zscores": zscores, "coverage2": coverage2, "held2": held2, "idf_mass2": idf_mass2,
            "gated_0.4": gated(0.4), "gated_0.5": gated(0.5), "gated_0.6": gated(0.6), "gated_0.7": gated(0.7),
            "hard_0.3": hard(0.3), "hard_0.4": hard(0.4), "hard_0.5": hard(0.5), "steep_0.4": steep(0.4),
            "steep_0.5": steep(0.5), "steep_0.6": steep(0.6), "steep_0.5_p3": steep(0.5, 3.0),
            "steep_0.5_p6": steep(0.5, 6.0), "near_0.5": steep_near(0.5), "near_0.5_r6": steep_near(0.5, 4.0, 0.6),
            "near_0.5_r9": steep_near(0.5, 4.0, 0.9), "near_0.4": steep_near(0.4),
            "adapt_.4_.6": adaptive(0.4, 0.6), "adapt_.45_.7": adaptive(0.45, 0.7), "adapt_.5_.8": adaptive(0.5, 0.8),
            "adapt_.4_.8": adaptive(0.4, 0.8), "adapt_.5_.7_p2": adaptive(0.5, 0.7, 0.5, 2.0),
            "adapt_.45_.6_t4": adaptive(0.45, 0.6, 0.4), "adapt_.25_.45": adaptive(0.25, 0.45),
            "adapt_.3_.45": adaptive(0.3, 0.45), "adapt_.3_.5": adaptive(0.3, 0.5), "adapt_.35_.5": adaptive(0.35, 0.5),
            "adapt_.3_.45_t4": adaptive(0.3, 0.45, 0.4), "adapt_.3_.45_p2": adaptive(0.3, 0.45, 0.5, 2.0),
            "count2": counted(2), "count2_near.7": counted(2, 0.7), "count2_near.7p2": counted(2, 0.7, 2.0),
            "count2_near.8p3": counted(2, 0.8, 3.0), "count3": counted(3)}


def score(questions: list[Question], rank: Callable[[Question, float], list[int]], weight: float,
          any_hit: bool) -> tuple[float, float]:
    hits: dict[int, list[float]] = {1: [], 5: []}
    for q in questions:
        ranked = [q.key_of.get(i) for i in rank(q, weight)]
        for k in (1, 5):
            top = set(ranked[:k])
            hits[k].append(float(bool(top & q.answers)) if any_hit else len(top & q.answers) / len(q.answers))
    return 100 * statistics.fmean(hits[1]), 100 * statistics.fmean(hits[5])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", nargs="*", default=["distractors", "handwritten", "locomo-observations",
                                                      "locomo-turns", "longmemeval"])
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--refresh", action="store_true", help="collect the candidates again")
    args = parser.parse_args()
    data: dict[str, list[Question]] = {}
    for name in args.sets:  # our own sets one column each (their files), the public ones whole
        for q in cached(name, args.limit, args.refresh):
            data.setdefault(q.category if name in ("handwritten", "distractors") else name, []).append(q)
    columns = sorted(data)
    print("| variant | weight | " + " | ".join(f"{s} R@1 | {s} R@5" for s in columns) + " |")
    print("|---|---|" + "---|---|" * len(columns))
    for variant in args.variants:
        for weight in WEIGHTS:
            cells = []
            for name in columns:
                r1, r5 = score(data[name], VARIANTS[variant], weight, any_hit=name == "longmemeval")
                cells += [f"{r1:.1f}", f"{r5:.1f}"]
            print(f"| {variant} | {weight} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
