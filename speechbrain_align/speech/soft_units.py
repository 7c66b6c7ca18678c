"""Soft unit sentences: extra copies of the corpus with units sampled near each segment.

With k-means units, one word spoken by different voices often falls into
several units, and since a speaker's context words are spoken in the same
voice, the unit skip-gram's co-occurrence graph splits by voice: the units
of one word in two voices get unrelated vectors. Adding copies of every
utterance in which each segment takes a unit drawn among its
``candidates`` nearest centroids (probability ``softmax(-d^2 / (2 T))``)
links the neighbouring units of one word across voices. Measured on the
200k-segment Bible corpus (K=1000 units on the AWE of
:mod:`speechbrain_align.speech.awe`, 6 soft copies, 10 candidates, T=0.2):
supervised token accuracy 21.8% -> 32.0%, top-500 type P@1 26% -> 45%.
"""

import numpy as np

from speechbrain_align.retrieval.search import knn


def nearest_centroids(features, centroids, n):
    """The ``n`` nearest centroids (Euclidean) of every row and ``-d^2`` (up to a row constant).

    Example
    -------
    >>> idx, _ = nearest_centroids(np.array([[0.0], [0.9]]), np.array([[0.0], [1.0], [3.0]]), 2)
    >>> idx.tolist()
    [[0, 1], [1, 0]]
    """
    x = np.asarray(features, dtype=np.float32)
    c = np.asarray(centroids, dtype=np.float32)
    aug_x = np.hstack([x, np.ones((len(x), 1), np.float32)])
    aug_c = np.hstack([2 * c, -(c * c).sum(axis=1, keepdims=True)])
    scores, idx = knn(aug_x, aug_c, min(int(n), len(c)))
    return idx, scores


def sample_soft_labels(features, centroids, copies, candidates=10, temperature=0.2, seed=0):
    """``copies`` arrays of unit indices, each segment's drawn among its nearest centroids.

    Example
    -------
    >>> x = np.array([[0.0], [10.0]])
    >>> [lab.tolist() for lab in sample_soft_labels(x, np.array([[0.0], [10.0]]), 2, temperature=0.01)]
    [[0, 1], [0, 1]]
    """
    if temperature <= 0:
        raise ValueError(f"soft unit temperature must be > 0, got {temperature}")
    idx, scores = nearest_centroids(features, centroids, candidates)
    logits = (scores - scores[:, :1]) / (2.0 * temperature)
    prob = np.exp(logits)
    cum = np.cumsum(prob / prob.sum(axis=1, keepdims=True), axis=1)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(int(copies)):
        pick = (rng.random((len(idx), 1)) > cum).sum(axis=1)
        out.append(idx[np.arange(len(idx)), np.minimum(pick, idx.shape[1] - 1)])
    return out
