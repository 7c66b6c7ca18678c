"""Dictionary induction: word pairs read off two aligned embedding spaces.

MUSE's refinement uses mutual nearest neighbours under CSLS among the most
frequent words: ``(i, j)`` is kept when ``j`` is the CSLS translation of
``i`` and ``i`` the CSLS translation of ``j``. The hubness terms ``r`` of
CSLS are always computed over the full vocabularies.
"""

import numpy as np

from speechbrain_align.retrieval.dense import csls_argmax, hubness, mutual_or_union

MODES = ("s2t", "t2s", "mutual", "union")


def build_dictionary(src, tgt, mode="mutual", method="csls", max_rank=15000, csls_k=10):
    """Induce pairs ``(i, j)`` from unit-normalised, already mapped spaces.

    Arguments
    ---------
    src, tgt : np.ndarray
        Rows sorted by decreasing frequency, unit length.
    mode : "s2t", "t2s", "mutual" or "union"
        Source-to-target translations, target-to-source, their
        intersection (mutual nearest neighbours) or their union.
    method : "csls" or "nn"
    max_rank : int
        Only the ``max_rank`` most frequent words of each side take part.
    csls_k : int
        Neighbourhood size of CSLS's hubness terms.

    Returns
    -------
    np.ndarray of shape ``(n, 2)``, int64, sorted.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> t = rng.normal(size=(30, 6)); t /= np.linalg.norm(t, axis=1, keepdims=True)
    >>> d = build_dictionary(t[::-1].copy(), t, mode="mutual")
    >>> bool((d[:, 0] == 29 - d[:, 1]).all()), len(d)
    (True, 30)
    """
    if mode not in MODES:
        raise ValueError(f"unknown dictionary mode {mode!r} (known: {', '.join(MODES)})")
    if method not in ("nn", "csls"):
        raise ValueError(f"unknown retrieval method {method!r} (use 'nn' or 'csls')")
    n_src, n_tgt = min(max_rank, len(src)), min(max_rank, len(tgt))
    k = csls_k if method == "csls" else 0
    # hubness over the full vocabularies, for the n_src / n_tgt most frequent words
    # only (the other side's terms are not needed: pass zeros to skip them)
    r_src = hubness(src[:n_src], tgt, k, r_keys=np.zeros(len(tgt)))[0]
    r_tgt = hubness(tgt[:n_tgt], src, k, r_keys=np.zeros(len(src)))[0]
    fwd = bwd = None
    if mode in ("s2t", "mutual", "union"):
        fwd = csls_argmax(src[:n_src], tgt[:n_tgt], k, r_src, r_tgt).index
    if mode in ("t2s", "mutual", "union"):
        bwd = csls_argmax(tgt[:n_tgt], src[:n_src], k, r_tgt, r_src).index
    return mutual_or_union(fwd, bwd, mode)
