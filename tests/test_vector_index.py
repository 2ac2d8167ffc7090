"""The in-memory index against a brute-force reference on random unit vectors."""

import numpy as np
import pytest

from server.storage.vector_index import VectorIndex


def unit(rng, n, d=16):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute(ids, vectors, q, k, allowed=None):
    pairs = [(int(i), float(v @ q)) for i, v in zip(ids, vectors) if allowed is None or i in allowed]
    return sorted(pairs, key=lambda p: -p[1])[:k]


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_search_equals_brute_force_after_adds_and_removes(rng):
    index = VectorIndex(16)
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
def test_candidate_restriction_never_returns_short_pages(rng, share):
    index = VectorIndex(16)
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


def test_replaying_an_add_and_out_of_order_ids_keep_the_index_consistent(rng):
    index = VectorIndex(16)
    vectors = unit(rng, 10)
    index.add([5, 3, 9], vectors[:3])
    index.add([3], vectors[3:4])  # already there: ignored
    index.add([1], vectors[4:5])
    assert len(index) == 4 and all(index.contains(i) for i in (1, 3, 5, 9))
    best = index.search(vectors[0], 1)
    assert best[0][0] == 5 and best[0][1] == pytest.approx(1.0, abs=1e-5)


def test_empty_index_and_k_larger_than_size(rng):
    index = VectorIndex(16)
    assert index.search(unit(rng, 1)[0], 5) == []
    index.add([1, 2], unit(rng, 2))
    assert len(index.search(unit(rng, 1)[0], 50)) == 2
    assert index.search(unit(rng, 1)[0], 5, np.array([], dtype=np.int64)) == []
