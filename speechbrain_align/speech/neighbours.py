"""Nearest labels by vector cosine or by edit distance, and their overlap@k.

The neighbour sets that :mod:`.diagnostics` compares: :func:`vector_neighbours`
(cosine, over :class:`.labelled_vectors.LabelledVectors`),
:func:`edit_neighbours` (Levenshtein distance of spellings or phone
sequences) and :func:`overlap_at_k`.
"""

import numpy as np

from speechbrain_align.retrieval.search import knn, normalize_rows


def vector_neighbours(lv, vocab, k=10):
    """``k`` nearest distinct labels (within ``vocab``) of each label of ``vocab``.

    Queries are the labels' representative vectors; candidates are all
    vectors whose label is in ``vocab`` (cosine, exact faiss search); hits are
    mapped to labels, the query's own label and repeats dropped.

    Example
    -------
    >>> from speechbrain_align.speech.labelled_vectors import LabelledVectors
    >>> lv = LabelledVectors([[1, 0], [1, .1], [0, 1], [.1, 1]], ["a", "a", "b", "c"],
    ...                      {"a": 0, "b": 2, "c": 3})
    >>> vector_neighbours(lv, ["a", "b", "c"], k=1)
    {'a': ['c'], 'b': ['c'], 'c': ['b']}
    """
    vocab = [w for w in vocab if w in lv.rep]
    vocab_set = set(vocab)
    cand = np.asarray([i for i, lab in enumerate(lv.labels) if lab in vocab_set], dtype=np.int64)
    if not len(cand):
        return {}
    keys = normalize_rows(lv.vectors[cand])
    cand_labels = [lv.labels[i] for i in cand]
    queries = normalize_rows(lv.vectors[[lv.rep[w] for w in vocab]])
    result = {}
    pending = np.arange(len(vocab))
    width = min(len(cand), 4 * k + 1)
    while len(pending):
        _, idx = knn(queries[pending], keys, width)
        still = []
        for qi, hits in zip(pending, idx):
            word = vocab[qi]
            found = []
            for h in hits:
                if h < 0:
                    continue
                lab = cand_labels[h]
                if lab != word and lab not in found:
                    found.append(lab)
                    if len(found) == k:
                        break
            if len(found) < k and width < len(cand):
                still.append(qi)
            else:
                result[word] = found
        pending = np.asarray(still, dtype=np.int64)
        width = min(len(cand), width * 4)
    return {w: result[w] for w in vocab}


def _encode_sequences(seqs_a, seqs_b):
    symbols = {}
    out = []
    for seqs in (seqs_a, seqs_b):
        lengths = np.asarray([len(s) for s in seqs], dtype=np.int64)
        arr = np.full((len(seqs), max(1, int(lengths.max(initial=0)))), -1, dtype=np.int32)
        for i, seq in enumerate(seqs):
            arr[i, : len(seq)] = [symbols.setdefault(c, len(symbols)) for c in seq]
        out.append((arr, lengths))
    return out


def edit_distance_matrix(seqs_a, seqs_b=None, block_elems=4_000_000):
    """Levenshtein distances between all sequences of ``seqs_a`` and ``seqs_b``.

    Sequences are strings (characters) or tuples of symbols (phones). The
    dynamic programme runs in numpy over a block of queries against all
    targets at once (only the inner column recurrence is a Python loop of
    the target length), so a few thousand words take seconds.

    Returns an int32 array ``(len(seqs_a), len(seqs_b))``.

    Example
    -------
    >>> edit_distance_matrix(["kitten", "", "abc"], ["sitting", "abc"]).tolist()
    [[3, 6], [7, 3], [7, 0]]
    """
    if seqs_b is None:
        seqs_b = seqs_a
    (A, la), (B, lb) = _encode_sequences(list(seqs_a), list(seqs_b))
    na, nb = len(la), len(lb)
    out = np.empty((na, nb), dtype=np.int32)
    if na == 0 or nb == 0:
        return out
    Lb = B.shape[1]
    bt = B.T  # (Lb, nb)
    block = max(1, block_elems // (nb * (Lb + 1)))
    t_index = np.arange(nb)[None, :]
    for first in range(0, na, block):
        qa, lq = A[first : first + block], la[first : first + block]
        bs = len(lq)
        res = np.empty((bs, nb), dtype=np.int32)
        zero = lq == 0
        res[zero] = lb[None, :]
        prev = np.broadcast_to(
            np.arange(Lb + 1, dtype=np.int16)[:, None, None], (Lb + 1, bs, nb)
        ).copy()
        cur = np.empty_like(prev)
        for i in range(1, int(lq.max()) + 1):
            cost = (qa[:, i - 1][None, :, None] != bt[:, None, :]).astype(np.int16)
            diag = np.minimum(prev[1:] + 1, prev[:-1] + cost)  # deletion / substitution
            cur[0] = i
            for j in range(1, Lb + 1):
                np.minimum(diag[j - 1], cur[j - 1] + 1, out=cur[j])  # insertion
            done = np.nonzero(lq == i)[0]
            if len(done):
                res[done] = cur[lb[None, :], done[:, None], t_index]
            prev, cur = cur, prev
        out[first : first + bs] = res
    return out


def edit_neighbours(seqs, words, k=10, tiebreak=None):
    """``k`` nearest other words of ``words`` by edit distance of ``seqs``.

    Arguments
    ---------
    seqs : list of str or tuple
        Spelling or phone sequence of each word.
    words : list of str
    tiebreak : array of float, optional
        Among equal distances, smaller values come first (default: order of
        ``words``). :func:`diagnose` passes minus the manifest frequency.

    Example
    -------
    >>> edit_neighbours(["cat", "bat", "dog", "cot"], ["cat", "bat", "dog", "cot"], k=2)["cat"]
    ['bat', 'cot']
    """
    n = len(words)
    if n == 0:
        return {}
    k = min(k, n - 1)
    dist = edit_distance_matrix(seqs)
    if tiebreak is None:
        rank = np.arange(n)
    else:
        rank = np.empty(n, dtype=np.int64)
        rank[np.lexsort((np.asarray(words), np.asarray(tiebreak)))] = np.arange(n)
    key = dist.astype(np.int64) * n + rank[None, :]
    np.fill_diagonal(key, np.iinfo(np.int64).max)
    if k <= 0:
        return {w: [] for w in words}
    top = np.argpartition(key, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(key, top, axis=1).argsort(axis=1)
    top = np.take_along_axis(top, order, axis=1)
    return {w: [words[j] for j in top[i]] for i, w in enumerate(words)}


def overlap_at_k(neigh_a, neigh_b, k=10):
    """Mean ``|A(w) & B(w)| / k`` over words present in both neighbour dicts.

    Returns ``(overlap, n_words)``; ``overlap`` is None when no word is shared.

    Example
    -------
    >>> overlap_at_k({"a": ["b", "c"], "x": ["y", "z"]}, {"a": ["c", "d"]}, k=2)
    (0.5, 1)
    """
    common = [w for w in neigh_a if w in neigh_b]
    if not common:
        return None, 0
    hits = [len(set(neigh_a[w][:k]) & set(neigh_b[w][:k])) / k for w in common]
    return float(np.mean(hits)), len(common)
