"""Label-free merges of fine k-means units into word-like types.

Fine units (thousands of k-means clusters of acoustic word embeddings) split a
word by voice: one unit per group of speakers. Two merges join them without
labels:

* :func:`speaker_constrained_merge`: units whose centroids are mutual nearest
  neighbours join, closest first, only while the two groups are spoken by
  different speakers (their speaker distributions overlap little), so that a
  group gathers one word's voices instead of chaining into a neighbouring word
  of the same voices;
* :func:`context_merge`: types whose acoustic centroids *and* skip-gram vectors
  are both close join (a word split within the voices is still one word in
  context);
* :func:`acoustic_merge`: types whose acoustic centroids are very close join
  whatever their speakers (a frequent word's variants, split by k-means
  within the voices).

All three take mutual ``k``-nearest-neighbour pairs (exact search,
:func:`speechbrain_align.retrieval.search.knn`) in order of similarity and join
them with a union-find (single linkage under a constraint). :func:`merge_units`
chains them (the units recipe's ``merge_units`` option and the benchmark's
label-free row).
"""

import numpy as np

from speechbrain_align.retrieval.search import knn, mutual_edges, normalize_rows


def mutual_neighbour_pairs(x, k=10):
    """Mutual ``k``-nearest-neighbour pairs of the rows of ``x`` by inner product.

    Returns
    -------
    scores : array (m,), best first
    pairs : array (m, 2) of row indices, ``i < j``

    Example
    -------
    >>> x = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], dtype="float32")
    >>> mutual_neighbour_pairs(x, k=1)[1].tolist()
    [[0, 1], [2, 3]]
    """
    x = np.asarray(x, dtype=np.float32)
    scores, nn = knn(x, x, min(len(x), int(k) + 1))
    src = np.repeat(np.arange(len(x)), nn.shape[1])
    dst, score = nn.ravel(), scores.ravel()
    keep = src != dst
    src, dst, score = src[keep], dst[keep], score[keep]
    mutual = mutual_edges(src, dst, len(x))
    order = np.argsort(-score[mutual], kind="stable")
    pairs = np.stack([src[mutual], dst[mutual]], axis=1)[order]
    return score[mutual][order], pairs


def _join(n, pairs, allowed=None):
    """Union-find over ``n`` items along ``pairs`` in order; ``allowed(a, b)`` (roots) may
    refuse a join, and is told of each one made. Returns group ids 0..G-1 (in the order of
    the groups' root items)."""
    parent = np.arange(n)

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        a, b = root(i), root(j)
        if a != b and (allowed is None or allowed(a, b)):
            parent[b] = a
    roots = np.array([root(i) for i in range(n)])
    _, groups = np.unique(roots, return_inverse=True)
    return groups


def speaker_constrained_merge(centroids, speaker_counts, k=10, min_cos=0.7, max_overlap=0.4):
    """Group units whose centroids are close and whose speakers differ.

    Arguments
    ---------
    centroids : array (n_units, d)
        Unit centroids (compared by cosine).
    speaker_counts : array (n_units, n_speakers)
        Segments of each unit per speaker.
    k : int
        Candidate pairs are mutual ``k``-nearest neighbours.
    min_cos : float
        Pairs below this cosine are not joined.
    max_overlap : float
        Two groups join only when ``sum_s min(p_a(s), p_b(s))`` of their
        speaker distributions is at most this (0: disjoint speakers, 1: same).

    Returns
    -------
    array (n_units,) of group ids.

    Example
    -------
    >>> c = np.array([[1, 0], [0.95, 0.05], [0.9, 0.1]])
    >>> s = np.array([[5, 0], [0, 5], [5, 0]])  # units 0 and 2: one speaker's
    >>> speaker_constrained_merge(c, s, k=2, min_cos=0.5, max_overlap=0.3).tolist()
    [0, 0, 1]
    """
    counts = np.asarray(speaker_counts, dtype=np.float64)
    if len(counts) != len(centroids):
        raise ValueError(f"{len(centroids)} centroids but {len(counts)} rows of speaker counts")
    scores, pairs = mutual_neighbour_pairs(normalize_rows(centroids), k)
    profile = {}

    def allowed(a, b):
        pa, pb = profile.get(a, counts[a]), profile.get(b, counts[b])
        overlap = np.minimum(pa / max(pa.sum(), 1e-12), pb / max(pb.sum(), 1e-12)).sum()
        if overlap > max_overlap:
            return False
        profile[a] = pa + pb
        profile.pop(b, None)
        return True

    return _join(len(counts), pairs[scores >= min_cos], allowed)


def context_merge(acoustic, context, k=10, min_acoustic=0.6, min_context=0.5):
    """Group types that sound alike and occur alike.

    Candidates are mutual ``k``-nearest neighbours by the sum of the two
    cosines (acoustic centroids; context vectors, e.g. the types' skip-gram
    vectors, centred first); a pair joins when each cosine reaches its floor.

    Example
    -------
    >>> a = np.array([[1, 0], [0.9, 0.1], [0.8, 0.2]])
    >>> c = np.array([[1, 0], [0.9, 0.1], [-1, 0.1]])
    >>> context_merge(a, c, k=1, min_acoustic=0.5, min_context=0.5).tolist()
    [0, 0, 1]
    """
    a = normalize_rows(acoustic)
    c = np.asarray(context, dtype=np.float64)
    c = normalize_rows(c - c.mean(axis=0))
    if len(a) != len(c):
        raise ValueError(f"{len(a)} acoustic vectors but {len(c)} context vectors")
    _, pairs = mutual_neighbour_pairs(np.hstack([a, c]), k)
    both = [(i, j) for i, j in pairs
            if a[i] @ a[j] >= min_acoustic and c[i] @ c[j] >= min_context]
    return _join(len(a), both)


def acoustic_merge(centroids, k=10, min_cos=0.9):
    """Group types whose centroids are mutual ``k``-nearest neighbours with a cosine of
    at least ``min_cos`` (no speaker constraint).

    Example
    -------
    >>> c = np.array([[1, 0], [0.99, 0.05], [0, 1], [0.6, 0.8]])
    >>> acoustic_merge(c, k=1, min_cos=0.9).tolist()
    [0, 0, 1, 2]
    """
    scores, pairs = mutual_neighbour_pairs(normalize_rows(centroids), k)
    return _join(len(centroids), pairs[scores >= min_cos])


MERGE_DEFAULTS = {"k": 10, "min_cos": 0.7, "max_overlap": 0.4, "min_acoustic": 0.6,
                  "min_context": 0.5, "rounds": 3, "final_min_cos": 0.9}


def check_settings(settings):
    """``MERGE_DEFAULTS`` updated with ``settings``; one :class:`HparamsError` naming the
    key for an unknown key or a value that is not a number.

    Example
    -------
    >>> check_settings({"rounds": 1})["rounds"], check_settings({})["k"]
    (1, 10)
    """
    from speechbrain_align.utils.errors import HparamsError

    if not isinstance(settings, dict):
        raise HparamsError(f"merge: {settings!r} is not a mapping of settings")
    unknown = sorted(set(settings) - set(MERGE_DEFAULTS))
    if unknown:
        raise HparamsError(f"merge: unknown key(s) {', '.join(unknown)}; "
                           f"known: {', '.join(MERGE_DEFAULTS)}")
    for key, value in settings.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise HparamsError(f"merge: {key}: expected a number, got {value!r}")
    return {**MERGE_DEFAULTS, **settings}


def merge_units(labels, features, speakers, context_vectors, **settings):
    """Merge fine k-means units into word-like types without word labels.

    A :func:`speaker_constrained_merge` of the unit centroids, then
    ``rounds`` times: context vectors of the current types (typically a unit
    skip-gram on the segments renamed by type) and a :func:`context_merge`;
    last, an :func:`acoustic_merge` of the types at ``final_min_cos`` (a value
    above 1 skips it).

    Arguments
    ---------
    labels : array (n,)
        Unit of every segment, ``0 .. n_units - 1``.
    features : array (n, d)
        The segments' vectors (the units' centroids are their sums).
    speakers : sequence (n,)
        Speaker of every segment (no word label is used).
    context_vectors : callable
        ``context_vectors(group_of_segment)`` -> array (n_groups, dim): one
        context vector per current type, row ``g`` for type ``g``.
    **settings
        ``k``, ``min_cos``, ``max_overlap``, ``min_acoustic``,
        ``min_context``, ``rounds``, ``final_min_cos`` (defaults
        ``MERGE_DEFAULTS``; checked by :func:`check_settings`).

    Returns
    -------
    array (n_units,) : the type of every unit, ``0 .. G-1``.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> labels = np.repeat(np.arange(4), 5)   # units 0, 1: one word in two voices
    >>> feats = np.repeat([[1, 0], [0.95, 0.1], [0, 1], [0.1, 0.95]], 5, axis=0)
    >>> speakers = np.repeat(["a", "b", "a", "b"], 5)
    >>> ctx = lambda group: rng.normal(size=(group.max() + 1, 3))
    >>> merge_units(labels, feats, speakers, ctx, k=1, rounds=0).tolist()
    [0, 0, 1, 1]
    """
    s = check_settings(settings)
    labels = np.asarray(labels, dtype=np.int64)
    features = np.asarray(features, dtype=np.float64)
    n_units = int(labels.max()) + 1
    _, speaker = np.unique(np.asarray(speakers), return_inverse=True)
    counts = np.zeros((n_units, speaker.max() + 1))
    np.add.at(counts, (labels, speaker), 1)
    sums = _group_sums(features, labels)  # unit centroids (unnormalised)
    group = speaker_constrained_merge(sums, counts, s["k"], s["min_cos"], s["max_overlap"])
    for _ in range(int(s["rounds"])):
        context = np.asarray(context_vectors(group[labels]))
        group = context_merge(_group_sums(sums, group), context, s["k"], s["min_acoustic"],
                              s["min_context"])[group]
    if s["final_min_cos"] <= 1:
        group = acoustic_merge(_group_sums(sums, group), s["k"], s["final_min_cos"])[group]
    return group


def _group_sums(sums, group):
    """Row sums of ``sums`` per group id."""
    out = np.zeros((group.max() + 1, sums.shape[1]))
    np.add.at(out, group, sums)
    return out
