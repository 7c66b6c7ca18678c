"""Fully unsupervised initialisation and self-learning (Artetxe et al., 2018).

Initialisation: for the ``init_vocab`` most frequent words of each space the
rows of ``sqrt(X X^T)`` (the square root of the similarity matrix) are
sorted. Sorted similarity distributions do not depend on word order or on a
rotation of the space, so equivalent words of two isomorphic spaces get
similar rows; nearest neighbours between those rows (CSLS, both directions)
give the seed dictionary.

Self-learning: alternate an orthogonal mapping learned on the dictionary
and a new dictionary induced by CSLS (both directions, union) among the
``vocab_cutoff`` most frequent words. The dictionary is induced
stochastically: each similarity is kept with probability ``keep_prob``,
which doubles when the objective stops improving for ``stochastic_interval``
iterations; the run ends after a plateau at ``keep_prob = 1``.
"""

import logging
import time

import numpy as np
import torch

from speechbrain_align.alignment.normalization import normalize_embeddings
from speechbrain_align.alignment.procrustes import procrustes_on_pairs
from speechbrain_align.retrieval.dense import csls_argmax, hubness, mutual_or_union

logger = logging.getLogger(__name__)


def sorted_similarity_rows(x, normalize=("unit", "center", "unit"), n_quantiles=None):
    """Rows of ``sqrt(x x^T)`` sorted in each row, then normalised.

    ``sqrt(x x^T) = U S U^T`` where ``x = U S V^T``; it is unchanged by any
    rotation of ``x``'s space. With ``n_quantiles``, each sorted row is
    subsampled at that many evenly spaced ranks (a sorted row is a smooth
    quantile curve, so little is lost and the n x n product that compares
    the two spaces becomes n x n_quantiles).

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(20, 5))
    >>> q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    >>> np.allclose(sorted_similarity_rows(x), sorted_similarity_rows(x @ q), atol=1e-4)
    True
    """
    u, s, _ = np.linalg.svd(np.asarray(x, dtype=np.float64), full_matrices=False)
    sim = (u * s) @ u.T
    sim.sort(axis=1)
    if n_quantiles is not None and n_quantiles < sim.shape[1]:
        sim = sim[:, np.linspace(0, sim.shape[1] - 1, int(n_quantiles)).round().astype(int)]
    return normalize_embeddings(sim, normalize)


def _bidirectional(src, tgt, csls_k, keep_prob=1.0, generator=None):
    """CSLS top-1 both ways between ``src`` and ``tgt``, in row blocks.

    Each score is kept with probability ``keep_prob`` (forward draws first,
    then backward ones); a sequence of probabilities gives one induction per
    value from the same draws. Returns ``(pairs, objective)``: the union of
    both directions' pairs (a list of arrays for a sequence of
    ``keep_prob``) and vecmap's objective, the mean over both directions of
    the best similarity ``(best CSLS + r_x + r_y) / 2`` without dropout,
    written as mean best CSLS / 4 + mean hubness / 4 as vecmap does.
    """
    r_src, r_tgt = hubness(src, tgt, csls_k)
    fwd = csls_argmax(src, tgt, csls_k, r_src, r_tgt, keep_prob, generator)
    bwd = csls_argmax(tgt, src, csls_k, r_tgt, r_src, keep_prob, generator)
    objective = float(
        (fwd.max_score.mean() + bwd.max_score.mean()) / 4 + (r_src.mean() + r_tgt.mean()) / 4
    )
    if np.ndim(keep_prob) == 0:
        return mutual_or_union(fwd.index, bwd.index, "union"), objective
    return [mutual_or_union(f, b, "union") for f, b in zip(fwd.index, bwd.index)], objective


def similarity_init(src, tgt, init_vocab=4000, csls_k=10, normalize=("unit", "center", "unit"),
                    n_quantiles=None):
    """Seed dictionary from sorted similarity distributions (no supervision).

    ``n_quantiles`` (see :func:`sorted_similarity_rows`) trades exactness
    for speed; None keeps whole rows as vecmap does.

    Returns an ``(n, 2)`` array of (source, target) indices.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(60, 6))
    >>> q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    >>> d = similarity_init(x, x @ q.T, init_vocab=60)
    >>> float(np.mean(d[:, 0] == d[:, 1])) > 0.9
    True
    """
    n = min(init_vocab, len(src), len(tgt))
    xs = sorted_similarity_rows(src[:n], normalize, n_quantiles)
    zs = sorted_similarity_rows(tgt[:n], normalize, n_quantiles)
    return _bidirectional(xs, zs, csls_k)[0]


def self_learning(
    src,
    tgt,
    init_pairs,
    vocab_cutoff=20000,
    csls_k=10,
    keep_prob=0.1,
    stochastic_multiplier=2.0,
    stochastic_interval=50,
    threshold=1e-6,
    max_iters=1000,
    seed=0,
    stop_at_fixed_point=True,
):
    """Self-learning from ``init_pairs``; returns ``(W, log)``.

    ``src``/``tgt`` are normalised, rows sorted by decreasing frequency.
    ``W`` is ``(tgt_dim, src_dim)``; ``log`` has one dict per iteration
    (``iteration``, ``objective``, ``keep_prob``, ``dico_size``).
    ``stop_at_fixed_point=False`` runs the final plateau out (the same mapping,
    more iterations: the reference).

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(100, 6)); x /= np.linalg.norm(x, axis=1, keepdims=True)
    >>> q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    >>> seed_pairs = np.stack([np.arange(10), np.arange(10)], 1)
    >>> w, log = self_learning(x, x @ q.T, seed_pairs, stochastic_interval=2)
    >>> bool(np.allclose(w, q, atol=1e-4))
    True
    """
    n_src, n_tgt = min(vocab_cutoff, len(src)), min(vocab_cutoff, len(tgt))
    generator = torch.Generator().manual_seed(int(seed))
    pairs = np.asarray(init_pairs, dtype=np.int64).reshape(-1, 2)
    tgt_top = np.ascontiguousarray(tgt[:n_tgt], dtype=np.float32)
    best_objective, last_improvement, log = -np.inf, 0, []
    mapping = None
    for it in range(1, max_iters + 1):
        start = time.time()
        mapping = procrustes_on_pairs(src, tgt, pairs)
        mapped = np.ascontiguousarray(src[:n_src] @ mapping.T, dtype=np.float32)
        # The objective decides whether keep_prob grows before this
        # iteration's induction: induce for both values in one pass.
        grown = min(1.0, stochastic_multiplier * keep_prob)
        (same, more), objective = _bidirectional(
            mapped, tgt_top, csls_k, (keep_prob, grown), generator
        )
        log.append({"iteration": it, "objective": objective, "keep_prob": keep_prob,
                    "dico_size": int(len(pairs)), "seconds": time.time() - start})
        if objective - best_objective >= threshold:
            best_objective, last_improvement = objective, it
        if stop_at_fixed_point and keep_prob >= 1.0 and np.array_equal(same, pairs):
            # a fixed point: every later iteration would give this mapping again
            logger.info("self-learning iteration %d: fixed point", it)
            break
        pairs = same
        if it - last_improvement > stochastic_interval:
            if keep_prob >= 1.0:
                break
            keep_prob, pairs = grown, more
            last_improvement = it
        if it % 10 == 0:
            logger.info("self-learning iteration %d: objective %.4f, keep_prob %.2f, %d pairs",
                        it, objective, keep_prob, len(pairs))
    logger.info("self-learning: %d iterations, objective %.4f", len(log), best_objective)
    return mapping, log
