"""Top-1 under CSLS over every (query, key) pair, in row blocks.

:func:`csls_argmax` returns, for each query row, the key with the best CSLS
score ``2 q.k - r_q - r_k`` (``csls_k=0``: the plain inner product). Unlike
:func:`~speechbrain_align.retrieval.search.csls_knn` it looks at the whole
score row, so each score can be dropped at random before the argmax (the
stochastic dictionary induction of Artetxe et al., 2018). Scores are
computed a block of query rows at a time: memory is bounded by
``max_elements`` scores whatever the vocabulary sizes, and no
vocabulary-squared matrix (scores or dropout mask) is ever held.

Dropout without a mask: when each score is kept with probability ``p``, the
best kept score of a row is its ``G``-th best score, where the rank ``G`` of
the first kept one in decreasing order is geometric, ``P(G = r) = p (1-p)^(r-1)``.
So one uniform number per row (``G = 1 + floor(log u / log(1 - p))``) and the
row's top ``G`` scores replace one draw and one comparison per score: the
same distribution as dropping scores one by one, at the cost of a top-k.

Determinism: the uniform numbers are drawn with ``torch.rand`` from
``generator`` row after row, so the draws (hence the results) do not depend
on the block size. Without dropout, ties go to the lowest key index; among
tied scores the dropout's rank order is the top-k's.
"""

from collections import namedtuple

import numpy as np
import torch

from speechbrain_align.retrieval.search import as_matrix, mean_knn_similarity

#: At most this many scores (float32) are held at once: 64 MiB.
MAX_ELEMENTS = 2**24
#: Scores per block on the CPU (1 MiB): a block and its dropout draws stay in
#: cache; vecmap's induction at n = 4000 is about 10% faster than with 64 MiB
#: blocks (``benchmarks/dense_top1.py``). The draws do not depend on the block size.
CPU_BLOCK_ELEMENTS = 2**18

Top1 = namedtuple("Top1", ["index", "score", "max_score"])
Top1.__doc__ = """Result of :func:`csls_argmax`.

index : int64 array (n,), or (len(keep_prob), n) for a sequence of keep_prob
    Best key of each query among the scores kept by the dropout.
score : float32 array, same shape as ``index``
    Its CSLS score.
max_score : float32 array (n,)
    Best CSLS score over all keys, dropped or not (``score`` without dropout).
"""


def hubness(queries, keys, csls_k=10, r_queries=None, r_keys=None):
    """CSLS hubness terms ``(r_queries, r_keys)``, computed where not given.

    ``r`` of a row is its mean inner product with its ``csls_k`` nearest
    rows of the other space; ``csls_k=0`` gives zeros (plain inner product).

    Example
    -------
    >>> q = np.array([[1.0, 0.0]], dtype="float32")
    >>> k = np.array([[1.0, 0.0], [0.6, 0.8]], dtype="float32")
    >>> [r.tolist() for r in hubness(q, k, csls_k=2)]
    [[0.800000011920929], [1.0, 0.6000000238418579]]
    """
    def side(r, rows, others):
        if r is not None:
            r = np.asarray(r, dtype=np.float32).reshape(-1)
            if len(r) != len(rows):
                raise ValueError(f"hubness terms: {len(r)} values for {len(rows)} rows")
            return r
        if csls_k <= 0 or len(others) == 0:
            return np.zeros(len(rows), dtype=np.float32)
        return mean_knn_similarity(rows, others, csls_k).astype(np.float32)

    return side(r_queries, queries, keys), side(r_keys, keys, queries)


def csls_argmax(queries, keys, csls_k=10, r_queries=None, r_keys=None, keep_prob=1.0,
                generator=None, max_elements=MAX_ELEMENTS, device="cpu"):
    """Best key of each query under CSLS, optionally with random score dropout.

    Arguments
    ---------
    queries, keys : array-like, shapes (n, d) and (m, d)
        Unit-normalised rows, so inner products are cosines.
    csls_k : int
        Neighbourhood size of the hubness terms; 0 scores by the plain inner
        product ``q.k`` (unless ``r_queries``/``r_keys`` are given).
    r_queries, r_keys : array-like, optional
        Precomputed hubness terms (see :func:`hubness`).
    keep_prob : float or sequence of float
        Each score is kept with this probability before the argmax (1: all).
        With a sequence, one argmax per value, all from the same draws (one
        uniform number per row, drawn only if some value is below 1).
    generator : torch.Generator, optional
        Source of the dropout draws (CPU).
    max_elements : int
        Scores held at once; query rows are taken ``max_elements // m`` at a time.
    device : str
        Torch device of the products.

    Returns
    -------
    Top1
        ``index``, ``score`` and ``max_score`` (see :class:`Top1`).

    Example
    -------
    >>> keys = np.array([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8]], dtype="float32")
    >>> csls_argmax([[1.0, 0.0]], keys, csls_k=0).index.tolist()
    [0]
    >>> csls_argmax([[1.0, 0.0]], keys, csls_k=1, r_queries=[0.0], r_keys=[0.5, 0.0, 0.0]).index.tolist()
    [1]
    """
    q = as_matrix(queries, "queries")
    k = as_matrix(keys, "keys")
    if q.shape[1] != k.shape[1]:
        raise ValueError(f"queries have dim {q.shape[1]}, keys dim {k.shape[1]}")
    probs = np.atleast_1d(np.asarray(keep_prob, dtype=np.float64))
    if probs.ndim != 1 or len(probs) == 0 or not ((probs > 0) & (probs <= 1)).all():
        raise ValueError(f"keep_prob must be in (0, 1], got {keep_prob}")
    r_q, r_k = hubness(q, k, csls_k, r_queries, r_keys)
    n, m = len(q), len(k)
    scale = 1.0 if csls_k <= 0 and r_queries is None and r_keys is None else 2.0
    index = np.zeros((len(probs), n), dtype=np.int64)
    score = np.zeros((len(probs), n), dtype=np.float32)
    max_score = np.zeros(n, dtype=np.float32)
    if n > 0 and m > 0:
        _blocks(q, k, scale, r_k, probs, generator, max_elements, device,
                index, score, max_score)
    score -= r_q
    max_score -= r_q
    if np.ndim(keep_prob) == 0:
        index, score = index[0], score[0]
    return Top1(index, score, max_score)


def _blocks(q, k, scale, r_k, probs, generator, max_elements, device, index, score, max_score):
    """Fill ``index``, ``score`` (per keep probability) and ``max_score`` (no r_q)."""
    n, m = len(q), len(k)
    on_cpu = torch.device(device).type == "cpu"
    elements = min(int(max_elements), CPU_BLOCK_ELEMENTS) if on_cpu else int(max_elements)
    rows = max(1, elements // m)
    keys = np.ascontiguousarray(k.T) if on_cpu else torch.from_numpy(k).to(device).T
    r_k_t = torch.from_numpy(r_k).to(device)
    dropout = (probs < 1.0).any()
    # log(1 - p) of each keep probability (-inf for p = 1: the rank is always 1)
    with np.errstate(divide="ignore"):
        log_drop = torch.from_numpy(np.log1p(-probs))
    for first in range(0, n, rows):
        last = min(n, first + rows)
        # 2 q.k - r_k ranks the keys of a row as CSLS does; r_q is a row constant
        if on_cpu:  # numpy's OpenBLAS: 2x torch's MKL on these thin products (benchmark)
            block = torch.from_numpy(q[first:last] @ keys)
        else:
            block = torch.from_numpy(q[first:last]).to(device) @ keys
        if scale != 1.0:
            block.mul_(scale).sub_(r_k_t[None, :])
        if not dropout:
            best = block.argmax(dim=1)  # the first of tied maxima
            best_score = block.gather(1, best[:, None])[:, 0].cpu().numpy()
            max_score[first:last] = best_score
            index[:, first:last] = best.cpu().numpy()
            score[:, first:last] = best_score
            continue
        # rank (1-based) of the first kept score of each row, per keep probability
        u = torch.rand(last - first, generator=generator, dtype=torch.float64)
        ranks = (torch.log(u)[None, :] / log_drop[:, None]).floor_().add_(1)
        ranks = torch.nan_to_num(ranks, nan=1.0, posinf=float(m + 1)).clamp_(1, m + 1).long()
        depth = int(min(m, ranks.max()))
        top_score, top_index = torch.topk(block, depth, dim=1, sorted=True)
        top_score, top_index = top_score.cpu(), top_index.cpu()
        max_score[first:last] = top_score[:, 0].numpy()
        for p in range(len(probs)):
            kept = ranks[p] <= m  # else every score of the row was dropped
            at = (ranks[p].clamp(max=depth) - 1)[:, None]
            index[p, first:last] = torch.where(kept, top_index.gather(1, at)[:, 0], 0).numpy()
            score[p, first:last] = torch.where(
                kept, top_score.gather(1, at)[:, 0], float("-inf")).numpy()


def mutual_or_union(fwd, bwd, mode="union"):
    """Pairs ``(i, j)`` from top-1 translations both ways, sorted, as an (n, 2) array.

    ``fwd[i]`` is the target of source ``i``, ``bwd[j]`` the source of
    target ``j``. ``mode``: "union" keeps both sets, "mutual" pairs found
    both ways, "s2t"/"t2s" one direction.

    Example
    -------
    >>> mutual_or_union(np.array([1, 0]), np.array([1, 1]), "mutual").tolist()
    [[1, 0]]
    >>> mutual_or_union(np.array([1, 0]), np.array([1, 1]), "union").tolist()
    [[0, 1], [1, 0], [1, 1]]
    """
    fwd_pairs = np.stack([np.arange(len(fwd)), np.asarray(fwd)], 1) if fwd is not None else None
    bwd_pairs = np.stack([np.asarray(bwd), np.arange(len(bwd))], 1) if bwd is not None else None
    if mode == "s2t":
        pairs = fwd_pairs
    elif mode == "t2s":
        pairs = bwd_pairs
    elif mode == "union":
        pairs = np.concatenate([fwd_pairs, bwd_pairs])
    elif mode == "mutual":
        pairs = fwd_pairs[np.asarray(bwd)[fwd_pairs[:, 1]] == fwd_pairs[:, 0]]
    else:
        raise ValueError(f"unknown dictionary mode {mode!r}")
    return np.unique(pairs.astype(np.int64).reshape(-1, 2), axis=0)
