"""Cluster-wise removal of speaker offsets from segment vectors (Harmony-style).

Acoustic word embeddings can be voice invariant segment by segment and still
not in their word types' centroids: a word spoken by the voices of one accent
gathers around one point, by another accent's around another, and k-means
then gives the word one unit per accent. A single offset per speaker does not
remove that (the shift depends on the word). This module follows the idea of
Harmony (Korsunsky et al., "Fast, sensitive and accurate integration of
single-cell data with Harmony", Nature Methods 2019), written here for
segment vectors and speakers, alternating two steps:

1. **soft clustering with a diversity penalty**: a segment's responsibility
   for cluster ``k`` is ``exp(-d / sigma)`` (``d = 2 (1 - cosine)`` to the
   centroid, the squared distance of unit vectors) times ``((E + 1) / (O + 1)) ** theta``, where ``O`` is how much of
   the segment's speaker the cluster already holds and ``E`` how much it would
   hold if its speakers were mixed as in the whole corpus: clusters are pushed
   to span speakers;
2. **correction**: for each cluster, a ridge regression of the vectors on the
   speaker indicators (weighted by the responsibilities, intercept free)
   gives each speaker's offset within that cluster; every segment loses its
   speaker's offsets, mixed by its responsibilities.

No word label is used. :func:`harmonize` returns unit-length vectors.
"""

import logging
import time

import numpy as np

from speechbrain_align.retrieval.search import normalize_rows

logger = logging.getLogger(__name__)

# The settings of :func:`harmonize` besides its inputs and seed (a recipe's ``harmony:`` block)
SETTINGS = ("n_clusters", "theta", "sigma", "ridge", "rounds", "cluster_steps", "block")


def _check(vectors, speakers, n_clusters, theta, sigma, ridge, rounds, cluster_steps, block):
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"vectors must be a non-empty (n, d) matrix, got shape {x.shape}")
    if len(speakers) != len(x):
        raise ValueError(f"{len(speakers)} speakers for {len(x)} vectors")
    if not 1 <= int(n_clusters) <= len(x):
        raise ValueError(f"n_clusters={n_clusters} must be between 1 and the {len(x)} vectors")
    for name, value in (("theta", theta), ("ridge", ridge)):
        if value < 0:
            raise ValueError(f"{name}={value} must be >= 0")
    if sigma <= 0 or not 0 < block <= 1 or int(rounds) < 1 or int(cluster_steps) < 1:
        raise ValueError(f"need sigma > 0 ({sigma}), 0 < block <= 1 ({block}), rounds >= 1 "
                         f"({rounds}) and cluster_steps >= 1 ({cluster_steps})")
    return x


def harmonize(vectors, speakers, n_clusters=500, theta=2.0, sigma=0.1, ridge=1.0, rounds=3,
              cluster_steps=5, block=0.05, seed=0):
    """Remove each speaker's offset cluster by cluster (see the module docstring).

    Arguments
    ---------
    vectors : array (n, d)
        Segment vectors (any norm; the clustering uses their directions).
    speakers : sequence of n hashables
        The speaker of each vector (any batch variable: speaker, accent, ...).
    n_clusters : int
        Soft clusters, each with its own speaker offsets.
    theta : float
        Weight of the diversity penalty (0: plain soft k-means).
    sigma : float
        Softness of the assignments (cosine-distance scale).
    ridge : float
        Ridge penalty on the speaker offsets (in units of responsibility mass).
    rounds : int
        Clustering + correction rounds.
    cluster_steps : int
        Passes over all segments of the clustering step in each round.
    block : float
        Share of the segments updated at once within a pass.
    seed : int
        Seeds the k-means initialisation and the update order.

    Returns
    -------
    array (n, d), float32, unit-length rows.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> words = rng.normal(size=(2, 8))
    >>> shift = {"a": rng.normal(size=8), "b": rng.normal(size=8)}
    >>> spk = ["a", "b"] * 40
    >>> x = np.stack([words[i % 4 // 2] + 2 * shift[s] * (i % 4 // 2) + 0.05 * rng.normal(size=8)
    ...               for i, s in enumerate(spk)])
    >>> def gap(v):  # word 1: distance between the two speakers' means
    ...     return float(np.linalg.norm(v[2::4].mean(0) - v[3::4].mean(0)))
    >>> gap(harmonize(x, spk, n_clusters=2, rounds=2)) < 0.5 * gap(normalize_rows(x))
    True
    """
    from speechbrain_align.speech.clustering import kmeans_units

    x = _check(vectors, speakers, n_clusters, theta, sigma, ridge, rounds, cluster_steps, block)
    n, dim = x.shape
    names, batch = np.unique(np.asarray(speakers, dtype=str), return_inverse=True)
    n_batches = len(names)
    share = np.bincount(batch, minlength=n_batches) / n
    members = [np.flatnonzero(batch == b) for b in range(n_batches)]
    rng = np.random.default_rng(seed)
    z = normalize_rows(x)
    _, centroids = kmeans_units(z, int(n_clusters), seed=seed)
    y = normalize_rows(np.asarray(centroids, dtype=np.float32))
    step = max(1, int(round(block * n)))

    def assign(rows, penalty):  # responsibilities of rows (m, K)
        logits = (z[rows] @ y.T - 1.0) * (2.0 / sigma)
        if penalty is not None:
            logits += theta * penalty[:, batch[rows]].T
        logits -= logits.max(axis=1, keepdims=True)
        r = np.exp(logits)
        return (r / r.sum(axis=1, keepdims=True)).astype(np.float32)

    def indicators(rows):
        onehot = np.zeros((len(rows), n_batches), dtype=np.float32)
        onehot[np.arange(len(rows)), batch[rows]] = 1.0
        return onehot

    resp = np.concatenate([assign(np.arange(s, min(n, s + step)), None) for s in range(0, n, step)])
    for round_ in range(int(rounds)):
        start = time.time()
        for _ in range(int(cluster_steps)):
            observed = resp.T @ indicators(np.arange(n))  # (K, B): speaker mass per cluster
            total = resp.sum(axis=0)
            order = rng.permutation(n)
            for s in range(0, n, step):
                rows = order[s:s + step]
                onehot = indicators(rows)
                observed -= resp[rows].T @ onehot
                total -= resp[rows].sum(axis=0)
                expected = total[:, None] * share[None, :]
                resp[rows] = assign(rows, np.log((expected + 1.0) / (observed + 1.0)))
                observed += resp[rows].T @ onehot
                total += resp[rows].sum(axis=0)
            y = normalize_rows(resp.T @ z)
        # correction: per cluster, ridge regression on [1, speaker one-hot], intercept free
        mass = np.stack([resp[m].sum(axis=0) for m in members], axis=1).astype(np.float64)  # (K, B)
        sums = np.stack([resp[m].T @ x[m] for m in members], axis=1).astype(np.float64)  # (K, B, d)
        offsets = np.zeros((len(y), n_batches, dim), dtype=np.float32)
        for k in range(len(y)):
            gram = np.diag(np.concatenate([[mass[k].sum()], mass[k] + ridge]))
            gram[0, 1:] = gram[1:, 0] = mass[k]
            rhs = np.concatenate([sums[k].sum(axis=0, keepdims=True), sums[k]])
            offsets[k] = np.linalg.lstsq(gram, rhs, rcond=None)[0][1:]
        corrected = x.copy()
        for b, m in enumerate(members):
            corrected[m] -= resp[m] @ offsets[:, b, :]
        z = normalize_rows(corrected)
        y = normalize_rows(resp.T @ z)
        logger.info("harmony round %d/%d: %.1f s, mean offset norm %.3f", round_ + 1, int(rounds),
                    time.time() - start, float(np.linalg.norm(offsets, axis=2).mean()))
    return z.astype(np.float32)
