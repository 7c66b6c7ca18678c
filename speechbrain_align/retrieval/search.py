"""Nearest neighbours and CSLS, exact inner product, bounded memory.

CSLS (Conneau et al., 2018) scores a pair as ``2 cos(x, y) - r_x - r_y`` where
``r_x`` is the mean cosine of ``x`` to its ``csls_k`` nearest neighbours in
the other space. For a fixed query ``x``, ranking by CSLS is ranking by
``2 x.y - r_y``, which is the inner product of ``[x, 1]`` with ``[2y, -r_y]``.
So CSLS retrieval is a plain exact inner-product search over augmented
vectors; no query x vocabulary matrix is ever held.

Backends
--------
``"faiss"`` (default on CPU): ``faiss.knn`` / ``faiss.knn_gpu`` (exact,
blocked BLAS with a k-heap; the keys are not copied into an index). Queries
are fed ``block_size`` rows at a time so every buffer stays bounded.
``"torch"``: blocked ``matmul`` + ``topk`` over query and key blocks, on any
torch device (used for ``use_gpu=True`` when faiss has no GPU support but
torch has CUDA). ``"auto"`` picks faiss, except for that GPU case.

Ordering
--------
Results are best first; equal scores are ordered by increasing key index, and
a tie across the ``k``-th place keeps the lowest indices (such rows, rare in
real data, are redone exactly with one matrix-vector product). So results are
deterministic and equal to a brute-force ``lexsort((index, -score))[:k]`` (up
to float rounding of the scores), whatever the backend and block sizes.
"""

import numpy as np

import faiss

_GPU_RESOURCES = None

#: The torch backend holds at most this many scores at once (query block x key
#: block, 256 MiB of float32): keys are taken ``TORCH_SCORE_ELEMENTS // block_size``
#: at a time.
TORCH_SCORE_ELEMENTS = 2**26


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


def as_matrix(x, name, min_rows=0):
    """``x`` as a finite, C-contiguous float32 2-D matrix, or ValueError naming it.

    Arguments
    ---------
    x : array-like, torch.Tensor or torch.nn.Module
        A module stands for its ``weight`` (e.g. a linear mapping); tensors
        are detached and moved to the CPU.
    name : str
        Named in the error messages.
    min_rows : int
        Fewer rows than this is an error.

    Returns
    -------
    np.ndarray of float32

    Example
    -------
    >>> as_matrix([[1, 2]], "w").dtype
    dtype('float32')
    >>> as_matrix([1.0, 2.0], "w")
    Traceback (most recent call last):
    ...
    ValueError: w must be a 2-D matrix, got shape (2,)
    """
    weight = getattr(x, "weight", None)
    if weight is not None and hasattr(x, "parameters"):  # a torch module
        x = weight
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {x.shape}")
    if len(x) < min_rows:
        raise ValueError(f"{name} must have at least {min_rows} row(s), got shape {x.shape}")
    if not np.isfinite(x).all():
        bad = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise ValueError(f"{name} has non-finite values (first in row {bad})")
    return x


def faiss_gpu_available():
    """True when this faiss build has GPU support and sees a GPU."""
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def _torch_cuda_available():
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return torch.cuda.is_available()


def _resolve_backend(backend, use_gpu):
    if backend == "auto":
        if use_gpu and not faiss_gpu_available() and _torch_cuda_available():
            return "torch"
        return "faiss"
    if backend not in ("faiss", "torch"):
        raise ValueError(f"unknown backend {backend!r} (use 'auto', 'faiss' or 'torch')")
    return backend


def _order_ties(scores, indices):
    """Sort each row by decreasing score, then increasing index."""
    order = np.lexsort((indices, -scores), axis=-1)
    return np.take_along_axis(scores, order, 1), np.take_along_axis(indices, order, 1)


def _faiss_search(block, keys, k, use_gpu):
    global _GPU_RESOURCES
    if use_gpu and faiss_gpu_available():
        if _GPU_RESOURCES is None:
            _GPU_RESOURCES = faiss.StandardGpuResources()
        return faiss.knn_gpu(_GPU_RESOURCES, block, keys, k, metric=faiss.METRIC_INNER_PRODUCT)
    return faiss.knn(block, keys, k, metric=faiss.METRIC_INNER_PRODUCT)


def _torch_search_fn(keys, k, use_gpu, key_block):
    """A function searching query blocks against ``keys`` with torch."""
    import torch

    device = torch.device("cuda" if use_gpu and torch.cuda.is_available() else "cpu")
    keys_t = torch.from_numpy(keys).to(device)

    def search(block):
        queries = torch.from_numpy(block).to(device)
        best_s = best_i = None
        for first in range(0, len(keys_t), key_block):
            part = keys_t[first : first + key_block]
            scores = queries @ part.T
            s, i = torch.topk(scores, min(k, len(part)), dim=1)
            i = i + first
            if best_s is not None:
                # earlier (lower-index) candidates first: a stable sort keeps them ahead on ties
                s, i = torch.cat([best_s, s], 1), torch.cat([best_i, i], 1)
            s, order = torch.sort(s, dim=1, descending=True, stable=True)
            best_s, best_i = s[:, :k], torch.gather(i, 1, order[:, :k])
        return best_s.cpu().numpy(), best_i.cpu().numpy()

    return search


def _exact_topk(queries, keys, k, rows_at_once=64):
    """Top-``k`` by (score desc, index asc) with numpy, a few rows at a time.

    Example
    -------
    >>> _exact_topk(np.zeros((1, 2), "float32"), np.ones((5, 2), "float32"), 3)[1].tolist()
    [[0, 1, 2]]
    """
    scores = np.empty((len(queries), k), dtype=np.float32)
    indices = np.empty((len(queries), k), dtype=np.int64)
    for first in range(0, len(queries), rows_at_once):
        block = queries[first : first + rows_at_once] @ keys.T
        for r, full in enumerate(block):
            kth = np.partition(full, len(full) - k)[len(full) - k]  # k-th largest
            above = np.flatnonzero(full > kth)
            ties = np.flatnonzero(full == kth)[: k - len(above)]  # lowest indices first
            chosen = np.concatenate([above, ties])
            order = np.lexsort((chosen, -full[chosen]))
            scores[first + r], indices[first + r] = full[chosen[order]], chosen[order]
    return scores, indices


def _blocked_search(queries, keys, k, use_gpu, block_size, backend, make_block=None):
    """Top-``k`` of each query row among ``keys``; queries taken in blocks.

    ``make_block(first, last)`` may build each query block on the fly (so an
    augmented copy of all queries is never held); otherwise rows of
    ``queries`` are used.
    """
    n = len(queries)
    k = min(k, len(keys))
    scores = np.empty((n, k), dtype=np.float32)
    indices = np.empty((n, k), dtype=np.int64)
    if n == 0 or k == 0:
        return scores, indices
    if block_size < 1:
        raise ValueError("block_size must be positive")
    backend = _resolve_backend(backend, use_gpu)
    kk = min(k + 1, len(keys))  # one more, to see ties across the k-th place
    if backend == "torch":
        search = _torch_search_fn(keys, kk, use_gpu, key_block=max(1, TORCH_SCORE_ELEMENTS // block_size))
    else:
        def search(block):
            return _faiss_search(block, keys, kk, use_gpu)

    for first in range(0, n, block_size):
        last = min(n, first + block_size)
        block = queries[first:last] if make_block is None else make_block(first, last)
        block = np.ascontiguousarray(block, dtype=np.float32)
        s, i = _order_ties(*search(block))
        if kk > k:
            # A tie across the k-th place: which keys are kept is not defined
            # by the search kernels, so redo those (rare) rows exactly.
            tied = np.flatnonzero(s[:, k] == s[:, k - 1])
            if len(tied):
                s[tied, :k], i[tied, :k] = _exact_topk(block[tied], keys, k)
        scores[first:last], indices[first:last] = s[:, :k], i[:, :k]
    return scores, indices


def knn(queries, keys, k, use_gpu=False, block_size=16384, backend="auto"):
    """Exact top-``k`` inner-product neighbours of each query row among ``keys``.

    Arguments
    ---------
    queries, keys : array-like, shapes (n, d) and (m, d)
    k : int
        Neighbours per query (capped at ``m``).
    use_gpu : bool
        Search on a GPU (faiss GPU, else torch CUDA) when one is available.
    block_size : int
        Queries searched at once; memory is bounded by the keys plus
        ``O(block_size)`` buffers whatever ``n``.
    backend : "auto", "faiss" or "torch"

    Returns
    -------
    scores, indices : arrays of shape (n, min(k, m)), best first (ties by
        increasing index).

    Example
    -------
    >>> keys = np.eye(3, dtype="float32")
    >>> scores, idx = knn(np.array([[0.1, 0.9, 0.0]]), keys, k=2)
    >>> idx.tolist()
    [[1, 0]]
    """
    queries = as_matrix(queries, "queries")
    keys = as_matrix(keys, "keys")
    if queries.shape[1] != keys.shape[1]:
        raise ValueError(f"queries have dim {queries.shape[1]}, keys dim {keys.shape[1]}")
    return _blocked_search(queries, keys, k, use_gpu, block_size, backend)


def mutual_edges(src, dst, n):
    """Mask of the directed edges ``src[i] -> dst[i]`` (points ``0..n-1``) whose reverse is
    also an edge, each pair kept once (where ``src < dst``): mutual neighbours.

    Example
    -------
    >>> mutual_edges(np.array([0, 1, 2, 3]), np.array([1, 0, 1, 2]), 4).tolist()
    [True, False, False, False]
    """
    src, dst, n = np.asarray(src, np.int64), np.asarray(dst, np.int64), np.int64(n)
    return np.isin(src * n + dst, dst * n + src) & (src < dst)


def mean_knn_similarity(queries, keys, k=10, use_gpu=False, block_size=16384, backend="auto"):
    """Mean inner product of each query with its ``k`` nearest keys (CSLS's r).

    Example
    -------
    >>> keys = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    >>> [round(float(r), 3) for r in mean_knn_similarity([[1.0, 0.0]], keys, k=2)]
    [0.8]
    """
    scores, _ = knn(queries, keys, k, use_gpu=use_gpu, block_size=block_size, backend=backend)
    return scores.mean(axis=1)


def csls_knn(
    src,
    tgt,
    k,
    csls_k=10,
    use_gpu=False,
    r_src=None,
    r_tgt=None,
    src_space=None,
    block_size=16384,
    backend="auto",
):
    """Top-``k`` targets of each source row under CSLS.

    Arguments
    ---------
    src, tgt : array-like
        Query and target vectors, unit-normalised so inner products are cosines.
    k : int
        Neighbours per query.
    csls_k : int
        Neighbourhood size of the hubness terms r.
    r_src, r_tgt : array-like, optional
        Precomputed hubness terms. ``r_src`` only shifts each query's scores
        (pass zeros to skip its search when only the ranking matters).
    src_space : array-like, optional
        The whole source space used for ``r_tgt`` (defaults to ``src``). Pass
        it when ``src`` is only the evaluated subset of a larger vocabulary,
        as in MUSE, where r of a target word is taken over all mapped source
        words.

    Returns
    -------
    csls_scores, indices : arrays of shape (n, min(k, len(tgt))), best first.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> t = normalize_rows(rng.normal(size=(50, 8)))
    >>> s = normalize_rows(t + 0.01 * rng.normal(size=t.shape))
    >>> _, idx = csls_knn(s, t, k=1)
    >>> bool((idx[:, 0] == np.arange(50)).all())
    True
    """
    src = as_matrix(src, "src")
    tgt = as_matrix(tgt, "tgt")
    if src.shape[1] != tgt.shape[1]:
        raise ValueError(f"src has dim {src.shape[1]}, tgt dim {tgt.shape[1]}")
    opts = dict(use_gpu=use_gpu, block_size=block_size, backend=backend)
    if r_src is None:
        r_src = mean_knn_similarity(src, tgt, csls_k, **opts) if len(tgt) else np.zeros(len(src))
    if r_tgt is None:
        space = src if src_space is None else as_matrix(src_space, "src_space")
        r_tgt = (
            mean_knn_similarity(tgt, space, csls_k, **opts) if len(space) else np.zeros(len(tgt))
        )
    r_src = np.asarray(r_src, np.float32).reshape(-1)
    r_tgt = np.asarray(r_tgt, np.float32).reshape(-1)
    if len(r_src) != len(src) or len(r_tgt) != len(tgt):
        raise ValueError("r_src/r_tgt must have one value per src/tgt row")
    aug_keys = np.empty((len(tgt), tgt.shape[1] + 1), dtype=np.float32)
    np.multiply(tgt, 2.0, out=aug_keys[:, :-1])
    aug_keys[:, -1] = -r_tgt

    def make_block(first, last):
        block = np.empty((last - first, src.shape[1] + 1), dtype=np.float32)
        block[:, :-1] = src[first:last]
        block[:, -1] = 1.0
        return block

    scores, idx = _blocked_search(
        src, aug_keys, k, use_gpu, block_size, backend, make_block=make_block
    )
    return scores - r_src[:, None], idx


def retrieve(src, tgt, k, method="csls", csls_k=10, use_gpu=False, **kwargs):
    """Top-``k`` neighbours by ``method`` ("nn" = inner product/cosine, "csls").

    Extra keyword arguments go to :func:`knn` or :func:`csls_knn`.

    Example
    -------
    >>> keys = np.eye(2, dtype="float32")
    >>> retrieve([[0.2, 0.8]], keys, k=1, method="nn")[1].tolist()
    [[1]]
    """
    if method == "nn":
        return knn(src, tgt, k, use_gpu=use_gpu, **kwargs)
    if method == "csls":
        return csls_knn(src, tgt, k, csls_k=csls_k, use_gpu=use_gpu, **kwargs)
    raise ValueError(f"unknown retrieval method {method!r} (use 'nn' or 'csls')")
