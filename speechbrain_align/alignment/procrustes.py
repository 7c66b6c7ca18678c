"""Orthogonal Procrustes: the rotation that best maps paired vectors."""

import numpy as np


def procrustes(src, tgt):
    """Orthogonal ``W`` minimising ``||src W^T - tgt||_F`` over paired rows.

    The solution is ``W = U V^T`` where ``U S V^T`` is the SVD of
    ``tgt^T src``. Returns a float32 ``(tgt_dim, src_dim)`` matrix so that
    ``src @ W.T`` maps source rows into the target space.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    >>> x = rng.normal(size=(40, 5))
    >>> np.allclose(procrustes(x, x @ q.T), q, atol=1e-5)
    True
    """
    src = np.asarray(src, dtype=np.float64)
    tgt = np.asarray(tgt, dtype=np.float64)
    if src.shape[0] != tgt.shape[0]:
        raise ValueError(f"{src.shape[0]} source rows but {tgt.shape[0]} target rows")
    if src.shape[0] == 0:
        raise ValueError("Procrustes needs at least one pair")
    u, _, vt = np.linalg.svd(tgt.T @ src, full_matrices=False)
    return (u @ vt).astype(np.float32)


def procrustes_on_pairs(src_emb, tgt_emb, pairs):
    """Procrustes on the rows indexed by ``pairs`` (``(n, 2)`` src/tgt indices)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return procrustes(src_emb[pairs[:, 0]], tgt_emb[pairs[:, 1]])
