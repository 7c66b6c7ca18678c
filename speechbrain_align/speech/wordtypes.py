"""From segment vectors (one per spoken token) to word-type vectors.

* (A) :func:`average_by_label`: the mean vector of all segments with the same
  word label (the paper's setting where word boundaries and identities are
  known; also used for the equal-chunk baseline, whose chunks carry the label
  of the word they overlap most).
* (B) :func:`kmeans_types`: k-means (faiss) over segment vectors; each cluster
  is one "word type" named ``c00017`` whose vector is the mean of its members
  (the unsupervised setting with no word identities).
* :func:`nearest_type_accuracy`: how often a segment's nearest type has its
  label (how much of a segment vector is the word, not the voice).

Counts (number of segments per type) are kept in :class:`Embeddings.counts`
so later steps can rank types by frequency.
"""

import csv
import logging

import numpy as np

from speechbrain_align.dataio.vectors import Embeddings
from speechbrain_align.speech.clustering import kmeans_units
from speechbrain_align.utils.files import atomic_write

logger = logging.getLogger(__name__)


def average_by_label(vectors, labels, source="segments"):
    """Mean vector per label; counts = segments per label; sorted by count.

    Segments with an empty label are left out with a counted warning.

    Example
    -------
    >>> e = average_by_label([[0, 0], [2, 2], [5, 1]], ["a", "a", "b"])
    >>> e.words, e.vectors.tolist(), e.counts.tolist()
    (['a', 'b'], [[1.0, 1.0], [5.0, 1.0]], [2, 1])
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if len(vectors) != len(labels):
        raise ValueError(f"{source}: {len(vectors)} vectors but {len(labels)} labels")
    types, inverse = {}, np.empty(len(labels), dtype=np.int64)
    empty = 0
    for i, label in enumerate(labels):
        if not label:
            inverse[i] = -1
            empty += 1
            continue
        inverse[i] = types.setdefault(label, len(types))
    if empty:
        logger.warning("%s: %d of %d segments have no word label; left out", source, empty, len(labels))
    if not types:
        raise ValueError(f"{source}: no segment has a word label")
    keep = inverse >= 0
    sums = np.zeros((len(types), vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse[keep], vectors[keep])
    counts = np.bincount(inverse[keep], minlength=len(types))
    emb = Embeddings(list(types), (sums / counts[:, None]).astype(np.float32), counts)
    return emb.sorted_by_count()


def cluster_name(index):
    """Name of cluster ``index`` as a word: ``c00017``.

    Example
    -------
    >>> cluster_name(17)
    'c00017'
    """
    return f"c{index:05d}"


def kmeans_types(vectors, num_clusters, niter=25, seed=1234, nredo=1):
    """K-means word types over segment vectors (faiss).

    Arguments
    ---------
    vectors : array ``(N, D)``
    num_clusters : int
        K; reduced to N when there are fewer segments (with a warning).
    niter, seed, nredo : faiss k-means settings.

    Returns
    -------
    types : Embeddings
        One row per non-empty cluster, named by :func:`cluster_name` of the
        cluster index, vector = mean of its members (not the faiss centroid,
        so that it is exactly the average of the assigned segments), counts =
        members; sorted by count.
    assignment : array of int ``(N,)``
        Cluster index of every segment (nearest centroid).

    Example
    -------
    >>> rs = np.random.RandomState(0)
    >>> x = np.concatenate([rs.randn(20, 4) + 10, rs.randn(30, 4) - 10])
    >>> types, assign = kmeans_types(x, 2)
    >>> sorted(types.counts.tolist()), len(set(assign[:20])), len(set(assign[20:]))
    ([20, 30], 1, 1)
    """
    x = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if len(x) == 0:
        raise ValueError("k-means over zero vectors")
    k = int(num_clusters)
    if k > len(x):
        logger.warning("k-means: K=%d > %d segments; using K=%d", k, len(x), len(x))
        k = len(x)
    # faiss's own random initialisation, as the unit k-means with init="random"
    assignment, _ = kmeans_units(x, k, niter=niter, nredo=nredo, seed=seed, init="random",
                                 min_points_per_centroid=1)
    counts = np.bincount(assignment, minlength=k)
    sums = np.zeros((k, x.shape[1]), dtype=np.float64)
    np.add.at(sums, assignment, x)
    used = np.flatnonzero(counts)
    if len(used) < k:
        logger.warning("k-means: %d of %d clusters are empty; left out", k - len(used), k)
    types = Embeddings(
        [cluster_name(c) for c in used],
        (sums[used] / counts[used, None]).astype(np.float32),
        counts[used],
    )
    return types.sorted_by_count(), assignment


def write_assignment(path, ids, assignment, labels=None):
    """Write the segment -> cluster CSV (``ID,cluster[,word]``), atomically.

    Read it back with :func:`speechbrain_align.speech.units.read_assignment`.
    """
    if len(ids) != len(assignment):
        raise ValueError(f"{path}: {len(ids)} ids but {len(assignment)} assignments")
    with atomic_write(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ID", "cluster"] + (["word"] if labels is not None else []))
        for i, (seg_id, cluster) in enumerate(zip(ids, assignment)):
            row = [seg_id, cluster_name(int(cluster))]
            if labels is not None:
                row.append(labels[i])
            writer.writerow(row)


def nearest_type_accuracy(vectors, labels, types, min_count=1, centre=None):
    """How often a segment's nearest word-type vector (cosine) has its label.

    A check of how much of a segment vector is the word (and not the voice):
    queries whose label has no type (or one with fewer than ``min_count``
    segments) are left out.

    Arguments
    ---------
    vectors : array ``(N, D)``
        Segment vectors (e.g. ``test_segments.npz``).
    labels : list of str
        The segments' word labels.
    types : Embeddings
        Word types (e.g. ``types_label.npz`` of the training segments).
    min_count : int
        Only types with at least this many segments are candidates.
    centre : array ``(D,)``, optional
        Subtracted from queries and types before normalising (e.g. the mean
        training segment vector).

    Returns
    -------
    (accuracy, number of queries scored)

    Example
    -------
    >>> from speechbrain_align.dataio.vectors import Embeddings
    >>> types = Embeddings(["a", "b"], np.array([[1., 0.], [0., 1.]]), [3, 1])
    >>> nearest_type_accuracy([[2., .1], [.1, 1.], [1., 1.1]], ["a", "b", "a"], types)
    (0.6666666666666666, 3)
    >>> nearest_type_accuracy([[2., .1], [.1, 1.]], ["a", "b"], types, min_count=2)
    (1.0, 1)
    """
    from speechbrain_align.retrieval.search import knn, normalize_rows

    shift = 0 if centre is None else np.asarray(centre, dtype=np.float32)
    keep = np.asarray(types.counts) >= min_count
    words = np.asarray(types.words)[keep]
    if not len(words):
        raise ValueError(f"no word type has at least {min_count} segments")
    labels = np.asarray(labels)
    scored = np.isin(labels, words)
    if not scored.any():
        return float("nan"), 0
    queries = normalize_rows(np.asarray(vectors, dtype=np.float32)[scored] - shift)
    keys = normalize_rows(np.asarray(types.vectors, dtype=np.float32)[keep] - shift)
    _, idx = knn(queries, keys, 1)
    hits = words[np.asarray(idx)[:, 0]] == labels[scored]
    return float(hits.mean()), int(scored.sum())
