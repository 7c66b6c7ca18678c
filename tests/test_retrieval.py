"""Exact agreement of the blocked NN / CSLS searches with brute-force numpy."""

import contextlib

import numpy as np
import pytest

import faiss

from speechbrain_align.retrieval import search
from speechbrain_align.retrieval.search import (
    csls_knn,
    knn,
    mean_knn_similarity,
    normalize_rows,
    retrieve,
)


def brute_topk(scores, k):
    """Top-k per row by decreasing score then increasing column (float64)."""
    cols = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    order = np.lexsort((cols, -scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, 1), order


def brute_csls(src, tgt, k, csls_k, src_space=None):
    space = src if src_space is None else src_space
    s = src.astype(np.float64) @ tgt.astype(np.float64).T
    r_src = brute_topk(s, csls_k)[0].mean(1)
    r_tgt = brute_topk(tgt.astype(np.float64) @ space.astype(np.float64).T, csls_k)[0].mean(1)
    return brute_topk(2 * s - r_src[:, None] - r_tgt[None, :], k)


@contextlib.contextmanager
def small_faiss_blocks(query_bs, database_bs):
    """Shrink faiss's internal BLAS blocks so tiny data crosses block boundaries."""
    old = (faiss.cvar.distance_compute_blas_query_bs, faiss.cvar.distance_compute_blas_database_bs)
    faiss.cvar.distance_compute_blas_query_bs = query_bs
    faiss.cvar.distance_compute_blas_database_bs = database_bs
    try:
        yield
    finally:
        (
            faiss.cvar.distance_compute_blas_query_bs,
            faiss.cvar.distance_compute_blas_database_bs,
        ) = old


def integer_data(rng, n, m, d=6, low=-2, high=3):
    """Small integer vectors: every inner product is exact, with many ties."""
    x = rng.integers(low, high, size=(n, d)).astype(np.float32)
    y = rng.integers(low, high, size=(m, d)).astype(np.float32)
    return x, y


@pytest.fixture(autouse=True)
def small_torch_key_blocks(monkeypatch):
    """Torch backend: key blocks of 3 to 40 rows, so tiny data crosses their boundaries."""
    monkeypatch.setattr(search, "TORCH_SCORE_ELEMENTS", 40)


@pytest.mark.parametrize("backend", ["faiss", "torch"])
@pytest.mark.parametrize("block_size", [1, 7, 64, 1000])
@pytest.mark.parametrize("k", [1, 5, 10])
def test_knn_matches_brute_force_random(backend, block_size, k):
    rng = np.random.default_rng(block_size * 100 + k)
    q = normalize_rows(rng.normal(size=(150, 16)))
    keys = normalize_rows(rng.normal(size=(333, 16)))
    with small_faiss_blocks(32, 50):
        scores, idx = knn(q, keys, k, block_size=block_size, backend=backend)
    ref_scores, ref_idx = brute_topk(q.astype(np.float64) @ keys.T.astype(np.float64), k)
    assert scores.shape == idx.shape == (150, k)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    # same neighbours: random reals have no exact ties
    assert (idx == ref_idx).mean() > 0.999
    # every returned score really is the inner product with the returned key
    np.testing.assert_allclose(scores, np.einsum("nd,nkd->nk", q, keys[idx]), atol=1e-5)


@pytest.mark.parametrize("backend", ["faiss", "torch"])
@pytest.mark.parametrize("block_size", [1, 3, 20, 500])
@pytest.mark.parametrize("faiss_blocks", [(4096, 1024), (16, 37)])
def test_knn_ties_keep_lowest_index_in_order(backend, block_size, faiss_blocks):
    rng = np.random.default_rng(1)
    q, keys = integer_data(rng, 60, 400)
    with small_faiss_blocks(*faiss_blocks):
        scores, idx = knn(q, keys, 10, block_size=block_size, backend=backend)
    ref_scores, ref_idx = brute_topk(q.astype(np.float64) @ keys.T, 10)
    # there are ties at the k-th place, so this checks the tie rule itself
    assert (ref_scores[:, 9] == ref_scores[:, 8]).any()
    np.testing.assert_array_equal(scores, ref_scores)
    np.testing.assert_array_equal(idx, ref_idx)


def test_knn_ties_hand_made():
    keys = np.array([[1.0, 0.0], [2.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    scores, idx = knn([[1.0, 0.0]], keys, k=3)
    assert idx.tolist() == [[1, 3, 0]]
    assert scores.tolist() == [[2.0, 2.0, 1.0]]


def test_knn_caps_k_and_handles_empty_queries():
    keys = np.eye(3, dtype=np.float32)
    scores, idx = knn(np.ones((2, 3)), keys, k=10)
    assert idx.shape == (2, 3) and sorted(idx[0].tolist()) == [0, 1, 2]
    scores, idx = knn(np.zeros((0, 3)), keys, k=2)
    assert scores.shape == (0, 2)


def test_bad_input_errors():
    with pytest.raises(ValueError, match="dim"):
        knn(np.ones((2, 3)), np.ones((4, 2)), 1)
    bad = np.ones((3, 2))
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="row 1"):
        knn(bad, np.ones((4, 2)), 1)
    with pytest.raises(ValueError, match="unknown retrieval method"):
        retrieve(np.ones((1, 2)), np.ones((2, 2)), 1, method="cosine")


def test_mean_knn_similarity_by_hand():
    keys = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    # cosines of (0, 1) with the keys: 0, 1, 0.8 -> top 2 mean = 0.9
    np.testing.assert_allclose(mean_knn_similarity([[0.0, 1.0]], keys, k=2), [0.9], rtol=1e-6)


@pytest.mark.parametrize("backend", ["faiss", "torch"])
@pytest.mark.parametrize("block_size", [1, 13, 4096])
@pytest.mark.parametrize("k,csls_k", [(1, 10), (5, 3), (10, 10)])
def test_csls_matches_brute_force_random(backend, block_size, k, csls_k):
    rng = np.random.default_rng(7 + k + block_size)
    src = normalize_rows(rng.normal(size=(120, 12)))
    tgt = normalize_rows(rng.normal(size=(260, 12)))
    with small_faiss_blocks(16, 40):
        scores, idx = csls_knn(src, tgt, k, csls_k=csls_k, block_size=block_size, backend=backend)
    ref_scores, ref_idx = brute_csls(src, tgt, k, csls_k)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    assert (idx == ref_idx).mean() > 0.999


@pytest.mark.parametrize("block_size", [1, 9, 1000])
def test_csls_exact_with_ties_and_src_space(block_size):
    # integer vectors and csls_k = 4: every CSLS score is an exact quarter, so
    # ties (duplicate targets) must come out exactly as brute force orders them
    rng = np.random.default_rng(3)
    space, tgt = integer_data(rng, 90, 200)
    tgt[150:] = tgt[:50]  # duplicate targets -> equal r and equal CSLS
    src = space[10:40]
    with small_faiss_blocks(8, 33):
        scores, idx = csls_knn(src, tgt, 10, csls_k=4, src_space=space, block_size=block_size)
    ref_scores, ref_idx = brute_csls(src, tgt, 10, 4, src_space=space)
    np.testing.assert_array_equal(scores, ref_scores)
    np.testing.assert_array_equal(idx, ref_idx)


def test_csls_hubness_example_differs_from_nn():
    # Keys are the unit basis, so inner products are the rows of C:
    #   x0: [0.85, 0.80, 0.00]   x1: [0.95, 0.10, 0.00]   x2: [0.00, 0.00, 1.00]
    # csls_k = 1: r_y = best score of y over the queries (column max):
    #   r_y0 = 0.95 (the hub), r_y1 = 0.80, r_y2 = 1.00
    # r_x = row max: r_x0 = 0.85.
    # NN for x0 is y0 (0.85 > 0.80). CSLS for x0:
    #   y0: 2*0.85 - 0.85 - 0.95 = -0.10 ; y1: 2*0.80 - 0.85 - 0.80 = -0.05 -> y1 wins.
    c = np.array([[0.85, 0.80, 0.0], [0.95, 0.10, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    keys = np.eye(3, dtype=np.float32)
    _, nn_idx = retrieve(c, keys, k=1, method="nn")
    csls_scores, csls_idx = retrieve(c, keys, k=2, method="csls", csls_k=1)
    assert nn_idx[:, 0].tolist() == [0, 0, 2]
    assert csls_idx[:, 0].tolist() == [1, 0, 2]
    np.testing.assert_allclose(csls_scores[0], [-0.05, -0.10], atol=1e-6)


def test_csls_precomputed_terms_and_zero_r_src_keep_ranking():
    rng = np.random.default_rng(5)
    src = normalize_rows(rng.normal(size=(40, 8)))
    tgt = normalize_rows(rng.normal(size=(70, 8)))
    scores, idx = csls_knn(src, tgt, 5)
    _, idx0 = csls_knn(src, tgt, 5, r_src=np.zeros(40))
    np.testing.assert_array_equal(idx, idx0)
    with pytest.raises(ValueError, match="one value per"):
        csls_knn(src, tgt, 5, r_tgt=np.zeros(3))


def test_many_tied_rows_zero_queries_and_duplicate_keys():
    # zero queries tie with every key: the k lowest indices, in order
    rng = np.random.default_rng(11)
    keys = normalize_rows(rng.normal(size=(500, 5)))
    keys[200:300] = keys[0]  # a block of duplicate keys
    queries = np.vstack([np.zeros((40, 5), np.float32), keys[:3]])
    scores, idx = knn(queries, keys, 6, block_size=16)
    assert (idx[:40] == np.arange(6)).all() and (scores[:40] == 0).all()
    # a query equal to key 0 ties with keys 200..299: 0, 200, 201, ...
    assert idx[40].tolist() == [0, 200, 201, 202, 203, 204]


def test_benchmark_script_smoke(tmp_path):
    import json
    import pathlib
    import subprocess
    import sys

    script = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "retrieval_benchmark.py"
    out = tmp_path / "bench.json"
    cmd = [sys.executable, str(script), "--sizes", "600", "3000", "--queries", "200",
           "--full-up-to", "1000", "--repeats", "1", "--dim", "16", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "CSLS effective" in proc.stdout and "extrapolated" in proc.stdout
    rows = json.loads(out.read_text())["results"]
    assert [r["mode"] for r in rows] == ["full", "sampled"]
    assert rows[1]["rows_timed"] == 200
    assert all(r["ratio_to_matmul_wall"] > 0 and r["peak_rss_gib"] > 0 for r in rows)
