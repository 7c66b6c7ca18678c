"""Dictionary induction: word pairs read off two aligned embedding spaces.

MUSE's refinement uses mutual nearest neighbours under CSLS among the most
frequent words: ``(i, j)`` is kept when ``j`` is the CSLS translation of
``i`` and ``i`` the CSLS translation of ``j``. The hubness terms ``r`` of
CSLS are always computed over the full vocabularies.
"""

import numpy as np
import torch

from speechbrain_align.retrieval.search import csls_knn, knn, mean_knn_similarity

MODES = ("s2t", "t2s", "mutual", "union")


def _top1(queries, keys, method, csls_k, r_queries=None, r_keys=None):
    if method == "nn":
        return knn(queries, keys, 1)[1][:, 0]
    if method == "csls":
        return csls_knn(queries, keys, 1, csls_k=csls_k, r_src=r_queries, r_tgt=r_keys)[1][:, 0]
    raise ValueError(f"unknown retrieval method {method!r} (use 'nn' or 'csls')")


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
    n_src, n_tgt = min(max_rank, len(src)), min(max_rank, len(tgt))
    r_src = r_tgt = None
    if method == "csls":
        r_src = mean_knn_similarity(src[:n_src], tgt, csls_k)
        r_tgt = mean_knn_similarity(tgt[:n_tgt], src, csls_k)
    fwd = bwd = None
    if mode in ("s2t", "mutual", "union"):
        fwd = _top1(src[:n_src], tgt[:n_tgt], method, csls_k, r_src, r_tgt)
    if mode in ("t2s", "mutual", "union"):
        bwd = _top1(tgt[:n_tgt], src[:n_src], method, csls_k, r_tgt, r_src)
    if mode == "s2t":
        pairs = {(i, int(j)) for i, j in enumerate(fwd)}
    elif mode == "t2s":
        pairs = {(int(i), j) for j, i in enumerate(bwd)}
    elif mode == "union":
        pairs = {(i, int(j)) for i, j in enumerate(fwd)} | {(int(i), j) for j, i in enumerate(bwd)}
    else:
        pairs = {(i, int(j)) for i, j in enumerate(fwd) if bwd[j] == i}
    out = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    return out


def csls_matrix(src, tgt, csls_k=10, r_src=None, r_tgt=None, device="cpu"):
    """Dense CSLS scores ``2 cos(x, y) - r_x - r_y`` as a torch tensor.

    For the few thousand most frequent words only (the matrix is dense).
    """
    s = torch.as_tensor(np.ascontiguousarray(src, dtype=np.float32), device=device)
    t = torch.as_tensor(np.ascontiguousarray(tgt, dtype=np.float32), device=device)
    sim = s @ t.T
    if r_src is None:
        r_src = sim.topk(min(csls_k, sim.shape[1]), dim=1).values.mean(1)
    if r_tgt is None:
        r_tgt = sim.topk(min(csls_k, sim.shape[0]), dim=0).values.mean(0)
    r_src = torch.as_tensor(r_src, dtype=sim.dtype, device=device)
    r_tgt = torch.as_tensor(r_tgt, dtype=sim.dtype, device=device)
    return 2 * sim - r_src[:, None] - r_tgt[None, :]
