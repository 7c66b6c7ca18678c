"""Label-free checks of a mapping.

:func:`mean_cosine_criterion`, the unsupervised model-selection criterion of
MUSE: the mean cosine between the most frequent mapped source words and
their CSLS translations in the target space. It needs no dictionary and
tracks translation accuracy closely, so it picks the best epoch / iteration.
:func:`translation_agreement` compares two mappings' translations: two
independent runs that agree both found the solution.
"""

import numpy as np

from speechbrain_align.retrieval.dense import csls_argmax
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
        idx = csls_argmax(queries, tgt, csls_k, r_queries=np.zeros(len(queries)),
                          r_keys=r_tgt).index
    else:
        idx = knn(queries, tgt, 1)[1][:, 0]
    return float(np.mean(np.sum(queries * tgt[idx], axis=1)))


def translation_agreement(src, tgt, w_a, w_b, n_words=1000, csls_k=10):
    """Share of the ``n_words`` most frequent source words translated alike by two mappings.

    Each mapping translates a word to its CSLS nearest target (hubness over
    the whole mapped source space). Two unsupervised runs that found the
    same solution agree on most words; a failed run agrees with nothing (on
    this project's spaces: 0.49-0.74 between successful runs, at most 0.026
    with a failed run and 0.133 with a partly failed one). No dictionary is
    used.

    Arguments
    ---------
    src, tgt : np.ndarray
        Normalised spaces (as the mappings were learned on), source rows
        sorted by decreasing frequency.
    w_a, w_b : np.ndarray
        Two ``(tgt_dim, src_dim)`` mappings.
    n_words : int
        How many of the most frequent source words are compared.
    csls_k : int

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> x = normalize_rows(rng.normal(size=(300, 8)))
    >>> q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    >>> translation_agreement(x, x @ q.T, q, q + 0.01), translation_agreement(x, x @ q.T, q, np.eye(8)) < 0.1
    (1.0, True)
    """
    tgt = normalize_rows(tgt)
    n = min(int(n_words), len(src))
    picks = []
    for w in (w_a, w_b):
        mapped = normalize_rows(src @ np.asarray(w, dtype=np.float32).T)
        r_tgt = mean_knn_similarity(tgt, mapped, csls_k)
        _, idx = csls_knn(mapped[:n], tgt, 1, csls_k=csls_k, r_tgt=r_tgt, r_src=np.zeros(n))
        picks.append(idx[:, 0])
    return float(np.mean(picks[0] == picks[1]))
