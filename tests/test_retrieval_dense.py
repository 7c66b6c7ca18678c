"""retrieval.dense: blocked CSLS top-1 against a brute-force dense computation."""

import numpy as np
import pytest
import torch

from speechbrain_align.retrieval.dense import csls_argmax, hubness, mutual_or_union
from speechbrain_align.retrieval.search import normalize_rows


def _brute(q, k, csls_k):
    """Dense CSLS matrix 2 cos - r_q - r_k (float64) and its hubness terms."""
    sim = q.astype(np.float64) @ k.astype(np.float64).T
    if csls_k == 0:
        return sim, np.zeros(len(q)), np.zeros(len(k))  # plain inner product
    r_q = np.sort(sim, axis=1)[:, ::-1][:, :csls_k].mean(1)
    r_k = np.sort(sim, axis=0)[::-1][:csls_k].mean(0)
    return 2 * sim - r_q[:, None] - r_k[None, :], r_q, r_k


def _spaces(seed, n=70, m=90, d=12):
    rng = np.random.default_rng(seed)
    return normalize_rows(rng.normal(size=(n, d))), normalize_rows(rng.normal(size=(m, d)))


@pytest.mark.parametrize("csls_k", [0, 1, 5])
@pytest.mark.parametrize("max_elements", [1, 7 * 90, 2**24])
def test_matches_brute_force(csls_k, max_elements):
    q, k = _spaces(csls_k)
    dense, r_q, r_k = _brute(q, k, csls_k)
    got = csls_argmax(q, k, csls_k=csls_k, max_elements=max_elements)
    np.testing.assert_array_equal(got.index, dense.argmax(1))
    np.testing.assert_allclose(got.score, dense.max(1), atol=1e-5)
    np.testing.assert_allclose(got.max_score, dense.max(1), atol=1e-5)
    r = hubness(q, k, csls_k)
    np.testing.assert_allclose(r[0], r_q, atol=1e-5)
    np.testing.assert_allclose(r[1], r_k, atol=1e-5)


def test_csls_differs_from_nn_on_a_hub():
    # key 0 is the nearest key of every query (a hub); CSLS penalises it
    q = normalize_rows(np.array([[1.0, 0.1], [1.0, -0.1], [1.0, 0.2]]))
    k = normalize_rows(np.array([[1.0, 0.0], [1.0, 0.5], [1.0, -0.4], [-1.0, 0.0]]))
    nn = csls_argmax(q, k, csls_k=0).index
    csls = csls_argmax(q, k, csls_k=2).index
    dense, _, _ = _brute(q, k, 2)
    assert nn.tolist() == [0, 0, 0]
    assert csls.tolist() == dense.argmax(1).tolist()
    assert (csls != nn).any()


def test_ties_go_to_the_lowest_index():
    k = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    assert csls_argmax([[1.0, 0.0]], k, csls_k=0).index.tolist() == [1]


def test_dropout_does_not_depend_on_the_block_size():
    q, k = _spaces(3)
    out = [
        csls_argmax(q, k, csls_k=3, keep_prob=0.3,
                    generator=torch.Generator().manual_seed(5), max_elements=me)
        for me in (1, 13 * 90, 2**24)
    ]
    for other in out[1:]:
        np.testing.assert_array_equal(other.index, out[0].index)
    # the same dropout, written densely: one uniform per row, row by row, gives the
    # rank of the first kept score in decreasing order
    dense, _, _ = _brute(q, k, 3)
    u = torch.rand(len(q), generator=torch.Generator().manual_seed(5), dtype=torch.float64).numpy()
    ranks = np.floor(np.log(u) / np.log1p(-0.3)).astype(int)  # 0-based
    order = np.argsort(-dense, axis=1, kind="stable")
    want = order[np.arange(len(q)), ranks]
    np.testing.assert_array_equal(out[0].index, want)
    np.testing.assert_allclose(out[0].score, dense[np.arange(len(q)), want], atol=1e-5)
    np.testing.assert_allclose(out[0].max_score, dense.max(1), atol=1e-5)
    assert (out[0].index != dense.argmax(1)).any()  # the dropout changed something


def test_dropout_has_the_law_of_dropping_each_score():
    """The kept argmax's rank follows the law of keeping each score with probability p."""
    rng = np.random.default_rng(0)
    n, m, p = 20000, 12, 0.3
    keys = np.eye(m, dtype=np.float32)
    # every query ranks the keys in the order 0, 1, ..., m-1
    queries = np.tile(np.linspace(1.0, 0.5, m, dtype=np.float32), (n, 1))
    got = csls_argmax(queries, keys, csls_k=0, keep_prob=p,
                      generator=torch.Generator().manual_seed(3)).index
    # reference: drop each score independently, then take the argmax of the kept ones
    kept = rng.random((n, m)) < p
    ref = np.where(kept.any(1), kept.argmax(1), 0)
    got_hist = np.bincount(got, minlength=m) / n
    ref_hist = np.bincount(ref, minlength=m) / n
    np.testing.assert_allclose(got_hist, ref_hist, atol=0.015)
    law = p * (1 - p) ** np.arange(m)
    law[0] += (1 - p) ** m  # every score dropped: index 0
    np.testing.assert_allclose(got_hist, law, atol=0.015)


def test_several_keep_probs_share_the_draws():
    q, k = _spaces(4)
    both = csls_argmax(q, k, keep_prob=(0.2, 0.6, 1.0), generator=torch.Generator().manual_seed(1))
    for p, prob in enumerate((0.2, 0.6)):
        one = csls_argmax(q, k, keep_prob=prob, generator=torch.Generator().manual_seed(1))
        np.testing.assert_array_equal(both.index[p], one.index)
    np.testing.assert_array_equal(both.index[2], csls_argmax(q, k).index)


def test_rejects_bad_arguments():
    q, k = _spaces(0)
    with pytest.raises(ValueError, match="keep_prob"):
        csls_argmax(q, k, keep_prob=0.0)
    with pytest.raises(ValueError, match="dim"):
        csls_argmax(q, k[:, :5])
    with pytest.raises(ValueError, match="non-finite"):
        csls_argmax(np.full((2, 12), np.nan), k)
    with pytest.raises(ValueError, match="hubness"):
        csls_argmax(q, k, r_keys=np.zeros(3))
    assert csls_argmax(q[:0], k).index.shape == (0,)


def test_mutual_or_union():
    fwd, bwd = np.array([0, 2, 1]), np.array([0, 0, 1])
    assert mutual_or_union(fwd, bwd, "mutual").tolist() == [[0, 0], [1, 2]]
    assert mutual_or_union(fwd, bwd, "s2t").tolist() == [[0, 0], [1, 2], [2, 1]]
    assert mutual_or_union(fwd, bwd, "t2s").tolist() == [[0, 0], [0, 1], [1, 2]]
    assert len(mutual_or_union(fwd, bwd, "union")) == 4
