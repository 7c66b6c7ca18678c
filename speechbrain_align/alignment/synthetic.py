"""An easy synthetic pair of embedding spaces with a known answer.

The target space is a random rotation of the source space plus a little
noise. The source vectors are clustered and anisotropic (an isotropic
Gaussian cloud looks the same under every rotation, which no unsupervised
method could undo), and words get Zipf-like counts.
"""

import numpy as np

from speechbrain_align.dataio.vectors import Embeddings


def synthetic_pair(n_words=2000, dim=50, noise=0.02, n_clusters=50, seed=0):
    """Return ``(src, tgt, rotation)``: two Embeddings and the true ``W``.

    Word ``w<i>`` of the source corresponds to word ``w<i>`` of the target;
    ``tgt.vectors ~= src.vectors @ rotation.T``. Counts follow ``1/rank``
    (slightly perturbed on the target side, so the frequency orders differ).

    Example
    -------
    >>> src, tgt, q = synthetic_pair(100, 8, noise=0.0)
    >>> bool(np.allclose(src.vectors @ q.T, tgt.vectors, atol=1e-5))
    True
    >>> src.counts[:3].tolist()
    [100000, 50000, 33333]
    """
    rng = np.random.default_rng(seed)
    scales = 1.0 / np.sqrt(np.arange(1, dim + 1))
    centres = rng.normal(size=(n_clusters, dim)) * scales
    labels = rng.integers(n_clusters, size=n_words)
    x = centres[labels] + 0.5 * rng.normal(size=(n_words, dim)) * scales
    q, r = np.linalg.qr(rng.normal(size=(dim, dim)))
    q = q * np.sign(np.diag(r))
    y = x @ q.T + noise * np.linalg.norm(x, axis=1, keepdims=True) * rng.normal(
        size=x.shape) / np.sqrt(dim)
    words = [f"w{i}" for i in range(n_words)]
    counts = (100000 / np.arange(1, n_words + 1)).astype(np.int64)
    tgt_counts = (counts * np.exp(0.3 * rng.normal(size=n_words))).astype(np.int64) + 1
    return (Embeddings(words, x, counts), Embeddings(words, y, tgt_counts),
            q.astype(np.float32))
