"""One ranking from two: semantic similarity and lexical relevance, fused by weighted scores.

Why not reciprocal-rank fusion: with equal weights it promotes any memory that shares a word with the
question, and a study here cut hit@5 on questions asked in other words from 0.85 to 0.31. A weighted blend
of normalised scores keeps meaning in charge (dense weight around 0.8) and lets shared words, above all
rare ones such as identifiers, decide between memories of similar meaning. The weight was chosen on
several sets (bench/bench_search.py): our hand-written ones and the public LoCoMo and LongMemEval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

DENSE_WEIGHT = 0.83  # the lowest at which no set ranks worse than by meaning alone (README "Search")
# A memory containing every identifier of the question ("E1042", "app.py") is what the person means.
IDENTIFIER_BONUS = 0.15


def fuse(dense: Mapping[int, float], lexical: Mapping[int, float], dense_weight: float = DENSE_WEIGHT,
         exact: Sequence[int] = ()) -> list[tuple[int, float]]:
    """(id, score) best first. `dense`: cosine similarity of every candidate; `lexical`: BM25 relevance
    (higher is better) of the candidates the lexical query matched; `exact`: ids holding every identifier."""
    top = max(lexical.values(), default=0.0)
    exact_ids = set(exact)
    scored = []
    for memory_id, similarity in dense.items():
        relevance = lexical.get(memory_id, 0.0) / top if top > 0 else 0.0
        score = dense_weight * similarity + (1.0 - dense_weight) * relevance
        if memory_id in exact_ids:
            score += IDENTIFIER_BONUS
        scored.append((memory_id, score))
    scored.sort(key=lambda item: -item[1])  # stable: ties keep the candidates' order
    return scored
