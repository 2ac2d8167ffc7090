"""One ranking from two: meaning (cosine similarity) and words (BM25), weighted by how much the words can say.

A question's words are evidence only as strong as they are. A memory sharing one common word with the question
("pager" in "determine what kind of pager to use") must add little; a memory holding the question's rare words
may decide. So:

- each word of the question weighs its IDF (how rare it is in this store); a memory *holds* a share of the
  question's weight, the IDF of its words over the IDF of all of them;
- the question decides how much words count at all: when no memory holds more than TRUST_FROM of its weight,
  it was asked in other words, and meaning alone ranks; from TRUST_FULL up, words get their full say
  (1 - DENSE_WEIGHT) and in between a proportion of it;
- each memory's words count in proportion to its BM25 (scaled to the question's best) times
  min(1, (share / HELD_FULL) ** HELD_POWER): a memory holding a small part of the question's weight adds
  almost nothing, one holding HELD_FULL or more adds its whole BM25;
- a memory holding every identifier of the question (E1042, app.py) gets IDENTIFIER_BONUS.

The constants were chosen with bench/tune_fusion.py on every set at once (facts asked in other words among
distractors, the same facts with some of their words, hand-written paraphrases and identifiers, LoCoMo and
LongMemEval): a region where none ranks worse than meaning alone and the public sets keep their gains. Plain
reciprocal-rank fusion and scaling BM25 by the question's best match both gave a single common word the full
lexical weight (hit@5 on questions in other words 0.82 -> 0.69).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from server.storage.base import Why

K = TypeVar("K")

DENSE_WEIGHT = 0.75  # meaning's share of the score when the words are fully trusted
TRUST_FROM, TRUST_FULL = 0.2, 0.4  # the strongest memory's share of the question's weight: words count from/fully
HELD_FULL, HELD_POWER = 0.4, 4.0  # a memory's own share at which its words count fully, and how fast they fade below
IDENTIFIER_BONUS = 0.15  # a memory holding every identifier of the question is what the person means


def shares(held: Mapping[K, set[int]], weights: Sequence[float]) -> dict[K, float]:
    """Each memory's share of the question's word weight (0..1)."""
    total = sum(weights) or 1.0
    return {key: sum(weights[w] for w in words) / total for key, words in held.items()}


def trust(share: Mapping[K, float]) -> float:
    """How much the question's words count at all (0..1), from the strongest memory's share."""
    strongest = max(share.values(), default=0.0)
    return min(1.0, max(0.0, (strongest - TRUST_FROM) / (TRUST_FULL - TRUST_FROM)))


def fuse(dense: Mapping[K, float], lexical: Mapping[K, float], held: Mapping[K, set[int]], weights: Sequence[float],
         words: Sequence[str], exact: Sequence[K] = (), dense_weight: float = DENSE_WEIGHT) -> list[tuple[K, float, Why]]:
    """(key, score, why) best first. `dense`: cosine similarity of every candidate; `lexical`: BM25 relevance
    (higher is better) of the lexical candidates; `held`: which of the question's `words` (by index) each
    lexical candidate holds, and `weights` their IDF; `exact`: the candidates holding every identifier."""
    share = shares({k: held.get(k, set()) for k in lexical}, weights)
    words_weight = (1.0 - dense_weight) * trust(share)
    top = max(lexical.values(), default=0.0)
    exact_keys = set(exact)
    scored = []
    for key, similarity in dense.items():
        strength = lexical.get(key, 0.0) / top if top > 0 else 0.0
        evidence = strength * min(1.0, (share.get(key, 0.0) / HELD_FULL) ** HELD_POWER)
        bonus = IDENTIFIER_BONUS if key in exact_keys else 0.0
        score = (1.0 - words_weight) * similarity + words_weight * evidence + bonus
        matched = tuple(words[w] for w in sorted(held.get(key, ())))
        scored.append((key, score, Why(similarity, evidence, words_weight, bonus, matched)))
    scored.sort(key=lambda item: -item[1])  # stable: ties keep the candidates' order
    return scored
