"""The in-memory index against a brute-force reference on random unit vectors."""

import numpy as np
import pytest

from server.storage.local.vector_codes import Codes
from server.storage.local.vector_index import VectorIndex

# Every test runs on both scans: the int8 prefilter with exact reranking (the default), and float32 only.
BOTH = pytest.mark.parametrize("prefilter", [True, False], ids=["int8-prefilter", "float32"])


def unit(rng, n, d=16):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute(ids, vectors, q, k, allowed=None):
    pairs = [(int(i), float(v @ q)) for i, v in zip(ids, vectors) if allowed is None or i in allowed]
    return sorted(pairs, key=lambda p: -p[1])[:k]


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@BOTH
def test_search_equals_brute_force_after_adds_and_removes(rng, prefilter):
    index = VectorIndex(16, prefilter)
    vectors = unit(rng, 3000)
    ids = np.arange(1, 3001)
    index.reset(ids[:1000], vectors[:1000], last_seq=0)
    index.add(list(ids[1000:]), vectors[1000:])
    removed = set(rng.choice(ids, 1200, replace=False).tolist())  # enough to trigger compaction
    index.remove(removed)
    alive = [i for i in ids if i not in removed]
    assert len(index) == len(alive)
    for q in unit(rng, 5):
        got = index.search(q, 10)
        want = brute(alive, vectors[np.array(alive) - 1], q, 10)
        assert [i for i, _ in got] == [i for i, _ in want]
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)


@pytest.mark.parametrize("share", [0.01, 0.5])
@BOTH
def test_candidate_restriction_never_returns_short_pages(rng, share, prefilter):
    index = VectorIndex(16, prefilter)
    vectors = unit(rng, 2000)
    ids = np.arange(1, 2001)
    index.reset(ids, vectors, last_seq=0)
    index.remove([5, 6, 7])
    allowed = set(rng.choice(ids, int(2000 * share), replace=False).tolist()) | {5}
    q = unit(rng, 1)[0]
    got = index.search(q, 10, np.array(sorted(allowed) + [99999]))  # an unknown id is ignored
    live_allowed = allowed - {5, 6, 7}
    want = brute(sorted(live_allowed), vectors[np.array(sorted(live_allowed)) - 1], q, 10)
    assert [i for i, _ in got] == [i for i, _ in want]
    assert len(got) == min(10, len(live_allowed))


@BOTH
def test_replaying_an_add_and_out_of_order_ids_keep_the_index_consistent(rng, prefilter):
    index = VectorIndex(16, prefilter)
    vectors = unit(rng, 10)
    index.add([5, 3, 9], vectors[:3])
    index.add([3], vectors[3:4])  # already there: ignored
    index.add([1], vectors[4:5])
    assert len(index) == 4 and all(index.contains(i) for i in (1, 3, 5, 9))
    best = index.search(vectors[0], 1)
    assert best[0][0] == 5 and best[0][1] == pytest.approx(1.0, abs=1e-5)


@BOTH
def test_empty_index_and_k_larger_than_size(rng, prefilter):
    index = VectorIndex(16, prefilter)
    assert index.search(unit(rng, 1)[0], 5) == []
    index.add([1, 2], unit(rng, 2))
    assert len(index.search(unit(rng, 1)[0], 50)) == 2
    assert index.search(unit(rng, 1)[0], 5, np.array([], dtype=np.int64)) == []


@BOTH
def test_near_ties_that_int8_cannot_tell_apart_are_ranked_exactly(rng, prefilter):
    """Hundreds of vectors within 0.001 of one another (closer than int8 codes resolve), plus ones that are
    not unit length and one that is zero: the order must be the float32 order, nothing missing."""
    d = 384
    centre = unit(rng, 1, d)[0]
    close = centre + 0.002 * rng.standard_normal((600, d)).astype(np.float32)
    close /= np.linalg.norm(close, axis=1, keepdims=True)
    vectors = np.vstack([close, unit(rng, 3000, d), 3.0 * unit(rng, 50, d), np.zeros((1, d), np.float32)])
    ids = np.arange(1, len(vectors) + 1)
    index = VectorIndex(d, prefilter)
    index.reset(ids, vectors.copy(), last_seq=0)
    queries = np.vstack([centre[None, :], close[:3] + 0.001, unit(rng, 3, d)])
    for q in queries:
        for k in (1, 10, 200):
            got = index.search(q, k)
            want = brute(ids, vectors, q, k)
            # The same scores in the same order, each the true score of its id; ids may swap only where
            # float32 rounding (1e-7) cannot tell two scores apart.
            assert np.allclose([s for _, s in got], [s for _, s in want], rtol=0, atol=1e-6), k
            assert np.allclose([s for _, s in got], [float(vectors[i - 1] @ q) for i, _ in got], rtol=0, atol=1e-6)
            assert len({i for i, _ in got}) == len(want)


def test_the_int8_prefilter_keeps_only_a_few_rows_and_always_the_best(rng):
    d = 384
    vectors = unit(rng, 20000, d)
    codes = Codes.empty(len(vectors), d)
    codes.set(0, vectors)
    keep = np.ones(len(vectors), dtype=bool)
    for q in vectors[:5] + 0.3 * unit(rng, 5, d):
        q = q / np.linalg.norm(q)
        kept = codes.may_be_top(q, 10, keep)
        assert len(kept) < 0.02 * len(vectors)
        assert set(np.argsort(-(vectors @ q))[:10]) <= set(kept.tolist())


@BOTH
def test_a_stored_vector_with_nan_or_inf_does_not_empty_the_results(rng, prefilter):
    vectors = unit(rng, 500, 32)
    vectors[3], vectors[8] = np.nan, np.inf
    index = VectorIndex(32, prefilter)
    index.reset(np.arange(1, 501), vectors.copy(), last_seq=0)
    q = vectors[10] + 0.05 * unit(rng, 1, 32)[0]
    got = [i for i, _ in index.search(q, 5)]
    assert got[0] == 11 and len(got) == 5
