"""Feature reduction (centring, PCA, whitening) and seeded k-means over segment vectors.

Shared by the unit skip-gram (:mod:`.units`), the k-means word types
(:mod:`.wordtypes`) and the 2-D projections of the figures
(:mod:`speechbrain_align.evaluation.plot_projection`).
"""

import numpy as np


def reduce_features(features, pca_dim=None, whiten=False, eps=1e-6):
    """Centre, optionally project on the top ``pca_dim`` principal axes and whiten.

    Arguments
    ---------
    features : array (n, d)
    pca_dim : int, optional
        Keep this many principal components (``None``: keep all ``d`` axes;
        with ``whiten=False`` that is plain centring).
    whiten : bool
        Scale each kept component to unit variance.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(500, 5)) * [10, 1, 1, 1, 0.1]
    >>> y = reduce_features(x, pca_dim=2, whiten=True)
    >>> y.shape, np.allclose(y.std(axis=0), 1, atol=0.01)
    ((500, 2), True)
    """
    x = np.asarray(features, dtype=np.float64)
    x = x - x.mean(axis=0, keepdims=True)
    if pca_dim is None and not whiten:
        return x.astype(np.float32)
    cov = x.T @ x / max(1, len(x) - 1)
    eigval, eigvec = np.linalg.eigh(cov)
    order = np.argsort(eigval)[::-1]
    if pca_dim is not None:
        order = order[: int(pca_dim)]
    y = x @ eigvec[:, order]
    if whiten:
        y = y / np.sqrt(np.maximum(eigval[order], 0) + eps)
    return y.astype(np.float32)


def kmeans_plusplus(features, n_units, seed=0, max_points=None, n_trials=None):
    """Greedy k-means++ initial centroids (Arthur & Vassilvitskii, 2007), numpy.

    Each new centre is drawn with probability proportional to the squared
    distance to the nearest centre already chosen; greedily, ``n_trials``
    candidates are drawn (default ``2 + ln K``) and the one that lowers the
    total squared distance most is kept. For speed the draw runs on a random
    sample of ``max_points`` rows (default ``32 * n_units``).

    Example
    -------
    >>> x = np.array([[0.0], [0.1], [10.0], [10.1]])
    >>> sorted(np.round(kmeans_plusplus(x, 2, seed=0)[:, 0]).tolist())
    [0.0, 10.0]
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(features, dtype=np.float32)
    max_points = max_points or 32 * n_units
    if len(x) > max_points:
        x = x[rng.choice(len(x), max_points, replace=False)]
    n_trials = n_trials or 2 + int(np.log(n_units))
    centres = np.empty((n_units, x.shape[1]), dtype=np.float32)
    centres[0] = x[rng.integers(len(x))]
    d2 = ((x - centres[0]) ** 2).sum(axis=1)
    sq = (x**2).sum(axis=1)
    for c in range(1, n_units):
        total = float(d2.sum())
        if total <= 0:
            picks = rng.integers(len(x), size=n_trials)
        else:
            picks = rng.choice(len(x), size=n_trials, p=d2 / total)
        cand = x[picks]  # (trials, d)
        dist = np.maximum(sq[None, :] - 2.0 * cand @ x.T + (cand**2).sum(axis=1)[:, None], 0)
        new_d2 = np.minimum(d2[None, :], dist)
        best = int(new_d2.sum(axis=1).argmin())
        centres[c] = cand[best]
        d2 = new_d2[best]
    return centres


def kmeans_units(
    features, n_units, niter=20, nredo=1, seed=0, init="kmeans++", max_points_per_centroid=256,
    min_points_per_centroid=None, init_points=None, init_trials=None,
):
    """Cluster segment vectors into ``n_units`` units with faiss k-means.

    Arguments
    ---------
    features : array (n, d)
    n_units : int
    niter : int
        Lloyd iterations (faiss).
    nredo : int
        Restarts; the run with the lowest objective is kept.
    seed : int
    init : "kmeans++" or "random"
        k-means++ seeding (:func:`kmeans_plusplus`) or faiss's random
        points; k-means++ avoids most merged clusters when units are well
        separated.
    max_points_per_centroid : int
        faiss subsamples the training set to this many points per centroid.
    min_points_per_centroid : int, optional
        faiss warns when there are fewer points per centroid (default: faiss's 39).
    init_points : int, optional
        k-means++ draws its centres from a random sample of this many rows
        (default ``32 * n_units``; its time grows with it).
    init_trials : int, optional
        Candidates per k-means++ centre (default ``2 + ln K``, greedy; 1 is
        plain k-means++, about 3x faster at K=6000).

    Returns ``(labels, centroids)``: the unit index of every row and the
    ``(n_units, d)`` centroids. Deterministic for a given ``seed``.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(c, 0.1, size=(20, 2)) for c in (0, 5, 10)])
    >>> labels, _ = kmeans_units(x, 3)
    >>> len(set(labels[:20])), len(set(labels[20:40])), len(set(labels[40:]))
    (1, 1, 1)
    """
    import faiss

    x = np.ascontiguousarray(features, dtype=np.float32)
    if not 1 <= n_units <= len(x):
        raise ValueError(f"n_units={n_units} must be between 1 and the {len(x)} segments")
    if init not in ("kmeans++", "random"):
        raise ValueError(f"init={init!r}: use 'kmeans++' or 'random'")
    extra = {}
    if min_points_per_centroid is not None:
        extra["min_points_per_centroid"] = int(min_points_per_centroid)
    best = None
    for redo in range(int(nredo) if init == "kmeans++" else 1):
        km = faiss.Kmeans(
            x.shape[1],
            int(n_units),
            niter=int(niter),
            nredo=1 if init == "kmeans++" else int(nredo),
            seed=int(seed) + redo,
            verbose=False,
            max_points_per_centroid=int(max_points_per_centroid),
            **extra,
        )
        if init == "kmeans++":
            km.train(x, init_centroids=kmeans_plusplus(
                x, int(n_units), seed=int(seed) + redo, max_points=init_points,
                n_trials=init_trials))
        else:
            km.train(x)
        objective = float(km.obj[-1]) if len(km.obj) else 0.0
        if best is None or objective < best[0]:
            best = (objective, km)
    km = best[1]
    _, labels = km.index.search(x, 1)
    return labels[:, 0].astype(np.int64), km.centroids.copy()
