"""Nearest neighbours and CSLS with faiss, exact inner product, bounded memory.

CSLS (Conneau et al., 2018) scores a pair as ``2 cos(x, y) - r_x - r_y`` where
``r_x`` is the mean cosine of ``x`` to its ``k`` nearest neighbours in the
other space. For a fixed query ``x``, ranking by CSLS is ranking by
``2 x.y - r_y``, which is the inner product of ``[x, 1]`` with ``[2y, -r_y]``.
So CSLS retrieval is a plain exact inner-product search over augmented
vectors: faiss does it with its blocked BLAS kernels, memory stays bounded by
the index (no query x vocabulary matrix is ever held), and the same code runs
on a GPU when faiss has one.
"""

import numpy as np

import faiss


def normalize_rows(x):
    """Rows scaled to unit length (zero rows stay zero), as float32.

    Example
    -------
    >>> normalize_rows(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _index(keys, use_gpu):
    keys = np.ascontiguousarray(keys, dtype=np.float32)
    index = faiss.IndexFlatIP(keys.shape[1])
    if use_gpu and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0:
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(keys)
    return index


def knn(queries, keys, k, use_gpu=False, block_size=65536):
    """Exact top-``k`` inner-product neighbours of each query row among ``keys``.

    Queries are searched ``block_size`` rows at a time so that the result
    buffers stay bounded too. Returns ``(scores, indices)``, each of shape
    ``(len(queries), k)``, best first.

    Example
    -------
    >>> keys = np.eye(3, dtype="float32")
    >>> scores, idx = knn(np.array([[0.1, 0.9, 0.0]]), keys, k=2)
    >>> idx.tolist()
    [[1, 0]]
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    k = min(k, len(keys))
    index = _index(keys, use_gpu)
    scores = np.empty((len(queries), k), dtype=np.float32)
    indices = np.empty((len(queries), k), dtype=np.int64)
    for first in range(0, len(queries), block_size):
        block = queries[first : first + block_size]
        scores[first : first + len(block)], indices[first : first + len(block)] = index.search(
            block, k
        )
    return scores, indices


def mean_knn_similarity(queries, keys, k=10, use_gpu=False):
    """Mean inner product of each query with its ``k`` nearest keys (CSLS's r)."""
    scores, _ = knn(queries, keys, k, use_gpu=use_gpu)
    return scores.mean(axis=1)


def csls_knn(src, tgt, k, csls_k=10, use_gpu=False, r_src=None, r_tgt=None):
    """Top-``k`` targets of each source row under CSLS.

    ``src`` and ``tgt`` should be unit-normalised so inner products are
    cosines. ``r_src``/``r_tgt`` may be passed when already computed (over
    the full vocabularies: the hubness terms always use the whole spaces).

    Returns ``(csls_scores, indices)``, best first.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> t = normalize_rows(rng.normal(size=(50, 8)))
    >>> s = normalize_rows(t + 0.01 * rng.normal(size=t.shape))
    >>> _, idx = csls_knn(s, t, k=1)
    >>> bool((idx[:, 0] == np.arange(50)).all())
    True
    """
    src = np.ascontiguousarray(src, dtype=np.float32)
    tgt = np.ascontiguousarray(tgt, dtype=np.float32)
    if r_src is None:
        r_src = mean_knn_similarity(src, tgt, csls_k, use_gpu)
    if r_tgt is None:
        r_tgt = mean_knn_similarity(tgt, src, csls_k, use_gpu)
    aug_keys = np.hstack([2.0 * tgt, -np.asarray(r_tgt, np.float32)[:, None]])
    aug_queries = np.hstack([src, np.ones((len(src), 1), dtype=np.float32)])
    scores, idx = knn(aug_queries, aug_keys, k, use_gpu=use_gpu)
    return scores - np.asarray(r_src, np.float32)[:, None], idx


def retrieve(src, tgt, k, method="csls", csls_k=10, use_gpu=False):
    """Top-``k`` neighbours by ``method`` ("nn" = cosine, "csls")."""
    if method == "nn":
        return knn(src, tgt, k, use_gpu=use_gpu)
    if method == "csls":
        return csls_knn(src, tgt, k, csls_k=csls_k, use_gpu=use_gpu)
    raise ValueError(f"unknown retrieval method {method!r} (use 'nn' or 'csls')")
