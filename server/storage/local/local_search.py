"""Search in the local database: semantic (the vector index, plus the chunks of long memories), lexical
(FTS5) and hybrid (both, fused). Runs inside the storage's read transaction; never writes.

Filters (tags, type, time) are applied inside every candidate query, so a page is never short because
the best matches were filtered out afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from server.search import fusion
from server.search.lexical import all_of, any_of, identifiers, terms, words_in_texts
from server.storage.base import MemoryFilter, Why
from server.storage.rows import filter_sql, rows_in
from server.storage.local.chunk_index import ChunkIndex
from server.storage.local.vector_index import VectorIndex

CANDIDATES = 50  # per kind, at least: the fused top-n is picked from these
BM25_WEIGHTS = (1.0, 0.5)  # content, tags
# Ranking costs about 0.8 microseconds per matching memory (BM25 for each: 8 ms for 10,000 at 100k
# memories). When every word of a question is this common, the memories holding all of its words are the
# ones ranked, if there are enough (BM25 over an AND counts every word, as over the OR: only memories
# missing a common word, which weighs little, are left out). A question with a rarer word is ranked whole.
COMMON_WORD = 2500


def candidate_count(n: int) -> int:
    return max(CANDIDATES, 4 * n)


@dataclass(frozen=True)
class Lexical:
    """The lexical side of a question: its candidates' BM25, its words, their weights (IDF) and which words each
    candidate holds (server/search/fusion.py)."""

    scores: dict[int, float]
    words: list[str]
    weights: list[float]
    held: dict[int, set[int]]


def search(conn: Any, index: VectorIndex | None, chunks: ChunkIndex, vector: np.ndarray, query: str, n: int,
           where: MemoryFilter, mode: str, scan: Callable[[], Any],
           lexical: Lexical | None = None) -> list[tuple[int, float, Why]]:
    """(memory id, score, why) best first. Semantic scores are cosine similarities; lexical ones BM25 relevance
    scaled to the best match (1.0); hybrid ones the fused score (see server.search.fusion). `lexical`: the
    lexical side, when the caller looked it up already (while the question was being embedded)."""
    k = candidate_count(n)
    if lexical is None:
        lexical = lexical_side(conn, query, k, where) if mode != "semantic" else Lexical({}, [], [], {})
    if mode == "lexical":
        top = max(lexical.scores.values(), default=1.0)
        ranked = sorted(((i, s / top) for i, s in lexical.scores.items()), key=lambda item: (-item[1], -item[0]))[:n]
        return [(i, s, Why(0.0, s, 1.0, 0.0, _matched(lexical, i))) for i, s in ranked]
    allowed = _allowed(conn, where)
    scores = lexical.scores
    if allowed is not None:  # found in an earlier transaction: a memory may have left the filter since
        scores = {i: s for i, s in scores.items() if i in set(allowed.tolist())}
    dense = dense_candidates(conn, index, chunks, vector, k if mode == "hybrid" else n, where, allowed, scan)
    if mode == "semantic":
        ranked = sorted(dense.items(), key=lambda item: (-item[1], -item[0]))[:n]
        return [(i, s, Why(s, 0.0, 0.0, 0.0)) for i, s in ranked]
    missing = [i for i in scores if i not in dense]
    dense.update(dense_scores(conn, index, chunks, vector, missing))
    exact = containing(conn, list(dense), identifiers(query))
    return fusion.fuse(dense, scores, lexical.held, lexical.weights, lexical.words, exact)[:n]


def _matched(lexical: Lexical, memory_id: int) -> tuple[str, ...]:
    return tuple(lexical.words[w] for w in sorted(lexical.held.get(memory_id, ())))


def lexical_side(conn: Any, query: str, k: int, where: MemoryFilter) -> Lexical:
    """The k best lexical matches that pass `where`, with the question's words, their IDF in this store, and
    which words each match holds."""
    words = terms(query)
    stems = _stems(conn, words)
    counts = _vocabulary_counts(conn, sorted({s for found in stems.values() for s in found}))
    known = {w: [counts.get(s, 0) for s in stems.get(w, [])] for w in range(len(words))}
    scores = lexical_candidates(conn, query, k, where, known)
    if not scores:
        return Lexical(scores, words, [1.0] * len(words), {})
    weights, held = word_evidence(conn, words, list(scores), known)
    return Lexical(scores, words, weights, held)


# A word found in at most this many memories has its holders listed from the index (exact, cheap); a more
# common one is counted from the index's vocabulary and looked for in the candidates' own text.
LISTED = 2000


def word_evidence(conn: Any, words: list[str], ids: list[int],
                  tokens: dict[int, list[int]]) -> tuple[list[float], dict[int, set[int]]]:
    """Each word's IDF in this store (FTS5's own formula) and, for each of `ids`, the words it holds.
    `tokens`: for each word (by index), how many memories hold each of its tokens (see `_stems`)."""
    total = max(1, conn.execute("SELECT count(*) FROM memories").fetchone()[0])
    wanted = set(ids)
    held: dict[int, set[int]] = {i: set() for i in ids}
    weights: list[float] = []
    common: list[int] = []
    for w, word in enumerate(words):
        known = tokens.get(w, [])
        if len(known) == 1 and known[0] > LISTED:  # one common token: its count is the vocabulary's, no listing
            common.append(w)
            weights.append(_idf(total, known[0]))
            continue
        try:
            found = [r[0] for r in conn.execute("SELECT rowid FROM memory_text WHERE memory_text MATCH ? LIMIT ?",
                                                [any_of([word]), LISTED + 1])]
        except Exception:  # either driver's error: a word FTS5 cannot read even quoted
            found = []
        if len(found) > LISTED:
            common.append(w)
            count = (min(known) if known and all(known) else 0) or len(found)
        else:
            count = len(found)
            for memory_id in wanted.intersection(found):
                held[memory_id].add(w)
        weights.append(_idf(total, count))
    if common:  # looked for in the candidates' own text
        texts = {r[0]: r[1] for r in rows_in(conn, "SELECT id, content FROM memories WHERE id", ids)}
        for memory_id, found_words in words_in_texts([words[w] for w in common], texts).items():
            held[memory_id].update(common[w] for w in found_words)
    return weights, held


def _idf(total: int, count: int) -> float:
    return max(1e-6, math.log((total - count + 0.5) / (count + 0.5)))


def _stems(conn: Any, words: list[str]) -> dict[int, list[str]]:
    """Each word's tokens as FTS5 indexes them (porter stems), by the word's index; {} when this SQLite
    cannot say (no fts5vocab), and then every word is listed from the index."""
    try:
        conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.question_words USING fts5(word, "
                     "tokenize='porter unicode61 remove_diacritics 2')")
        conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.question_stems USING fts5vocab(temp, question_words, "
                     "instance)")
        conn.execute("DELETE FROM temp.question_words")
        for w, word in enumerate(words):
            conn.execute("INSERT INTO temp.question_words (rowid, word) VALUES (?, ?)", [w + 1, word])
        stems: dict[int, list[str]] = {}
        for term, row in conn.execute("SELECT term, doc FROM temp.question_stems ORDER BY doc, offset"):
            stems.setdefault(row - 1, []).append(term)
        return stems
    except Exception:  # either driver's error (a SQLite without fts5vocab)
        return {}


def _vocabulary_counts(conn: Any, stems: list[str]) -> dict[str, int]:
    """How many memories hold each token, from FTS5's vocabulary (a lookup, not a count of its matches)."""
    if not stems:
        return {}
    try:
        conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.memory_vocabulary USING fts5vocab(main, memory_text, row)")
        marks = ",".join("?" * len(stems))
        return dict(conn.execute(f"SELECT term, doc FROM temp.memory_vocabulary WHERE term IN ({marks})", stems))
    except Exception:  # either driver's error: counted from the listing instead
        return {}


def _allowed(conn: Any, where: MemoryFilter) -> np.ndarray | None:
    """The ids that pass the filter (None: all), so both kinds of candidates are picked among them."""
    if where.is_empty:
        return None
    clause, params = filter_sql(where)
    return np.fromiter((r[0] for r in conn.execute(f"SELECT id FROM memories m WHERE {clause}", params)), np.int64)


def dense_candidates(conn: Any, index: VectorIndex | None, chunks: ChunkIndex, vector: np.ndarray, k: int,
                     where: MemoryFilter, allowed: np.ndarray | None, scan: Callable[[], Any]) -> dict[int, float]:
    if index is not None:
        found = dict(index.search(vector, k, allowed))
    else:  # cold start: an exact scan in SQL until the index is loaded
        from server.storage.local import vector_mirror

        with scan() as cold:
            found = dict(vector_mirror.sql_search(cold, vector, k, where))
    for memory_id, score in chunks.best(conn, vector, k, allowed).items():
        found[memory_id] = max(score, found.get(memory_id, -1.0))
    return found


def dense_scores(conn: Any, index: VectorIndex | None, chunks: ChunkIndex, vector: np.ndarray,
                 ids: list[int]) -> dict[int, float]:
    """The similarity of these memories (found by words only) to the question, best window included."""
    if not ids:
        return {}
    if index is not None:
        scores = dict(index.search(vector, len(ids), np.asarray(ids, dtype=np.int64)))
    else:
        scores = {r[0]: float(r[1]) for r in rows_in(
            conn, f"SELECT memory_id, 1.0 - vec_distance_cosine(embedding, x'{vector.tobytes().hex()}') "
                  "FROM memory_vectors WHERE memory_id", ids)}
    for memory_id, score in chunks.best(conn, vector, len(ids), only=np.asarray(ids, dtype=np.int64)).items():
        scores[memory_id] = max(score, scores.get(memory_id, -1.0))
    return scores


def lexical_candidates(conn: Any, query: str, k: int, where: MemoryFilter,
                       tokens: dict[int, list[int]] | None = None) -> dict[int, float]:
    """BM25 relevance (higher is better) of the k best lexical matches that pass `where`. `tokens`: how many
    memories hold each word's tokens, when known (a one-token word's count is then not queried again)."""
    words = terms(query)
    match = any_of(words)
    if match is None:
        return {}

    def count(w: int) -> int:
        known = (tokens or {}).get(w, [])
        return known[0] if len(known) == 1 else _count(conn, any_of([words[w]]) or "")

    if len(words) > 1 and all(count(w) > COMMON_WORD for w in range(len(words))):
        found = _ranked(conn, all_of(words) or match, k, where)
        if len(found) >= k:
            return found
    return _ranked(conn, match, k, where)


def _count(conn: Any, match: str) -> int:
    try:
        return conn.execute("SELECT count(*) FROM memory_text WHERE memory_text MATCH ?", [match]).fetchone()[0]
    except Exception:  # either SQLite driver's error class; _ranked says what it means
        return 0


def _ranked(conn: Any, match: str, k: int, where: MemoryFilter) -> dict[int, float]:
    """The k best matches of `match` by BM25."""
    clause, params = filter_sql(where)
    weights = ", ".join(str(w) for w in BM25_WEIGHTS)
    # Without a filter the rows are not needed: joining them costs a lookup per matching memory (about half
    # the time at 100k memories).
    join = "" if where.is_empty else f"JOIN memories m ON m.id = memory_text.rowid AND {clause} "
    try:
        rows = conn.execute(
            f"SELECT memory_text.rowid, -bm25(memory_text, {weights}) AS relevance FROM memory_text {join}"
            "WHERE memory_text MATCH ? ORDER BY relevance DESC LIMIT ?",
            [*([] if where.is_empty else params), match, k]).fetchall()
    except Exception as exc:  # either SQLite driver's error class
        if "fts5" not in str(exc).lower() and "no such table: memory_text" not in str(exc):
            raise  # (a database put back from before 0003_search has no table until the next start)
        return {}  # a question FTS5 cannot parse even quoted: no lexical candidates, not an error
    return {r[0]: float(r[1]) for r in rows}


def containing(conn: Any, ids: list[int], words: list[str]) -> list[int]:
    """The ids whose content holds every one of `words` (case-insensitive)."""
    if not words or not ids:
        return []
    test = " AND ".join("instr(lower(content), ?) > 0" for _ in words)
    found = []
    for chunk in [ids[i:i + 500] for i in range(0, len(ids), 500)]:
        marks = ",".join("?" * len(chunk))
        found += [r[0] for r in conn.execute(f"SELECT id FROM memories WHERE id IN ({marks}) AND {test}",
                                             [*chunk, *words])]
    return found
