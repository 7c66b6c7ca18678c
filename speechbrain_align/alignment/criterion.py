"""The unsupervised model-selection criterion of MUSE.

The mean cosine between the most frequent mapped source words and their
CSLS translations in the target space. It needs no dictionary and tracks
translation accuracy closely, so it picks the best epoch / iteration.
"""

import numpy as np

from speechbrain_align.retrieval.search import csls_knn, knn, mean_knn_similarity, normalize_rows


def mean_cosine_criterion(mapped_src, tgt, n_words=10000, csls_k=10, method="csls"):
    """Mean cosine of ``mapped_src[:n_words]`` to their translations in ``tgt``.

    Arguments
    ---------
    mapped_src : np.ndarray
        Source vectors already mapped to the target space, rows sorted by
        decreasing frequency (normalised here).
    tgt : np.ndarray
        Target vectors (normalised here); the whole vocabulary is searched.
    n_words : int
        How many of the most frequent source words to average over (capped
        by the vocabulary size).
    csls_k : int
    method : "csls" or "nn"

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> t = rng.normal(size=(200, 10))
    >>> good = mean_cosine_criterion(t + 0.1 * rng.normal(size=t.shape), t)
    >>> bad = mean_cosine_criterion(rng.normal(size=t.shape), t)
    >>> bool(good > 0.9 > bad)
    True
    """
    src = normalize_rows(mapped_src)
    tgt = normalize_rows(tgt)
    queries = src[: min(int(n_words), len(src))]
    if method == "csls":
        # hubness of the targets is measured against the whole source space
        r_tgt = mean_knn_similarity(tgt, src, csls_k)
        # only the ranking is used: the queries' own hubness term shifts every
        # candidate equally, so skip that search
        _, idx = csls_knn(queries, tgt, 1, csls_k=csls_k, r_tgt=r_tgt, r_src=np.zeros(len(queries)))
    else:
        _, idx = knn(queries, tgt, 1)
    return float(np.mean(np.sum(queries * tgt[idx[:, 0]], axis=1)))
