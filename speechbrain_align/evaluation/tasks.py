"""Task metrics: spoken word classification, synonyms, translation (P@1, P@5).

Every task ranks target words for a query vector that already lives in the
target space (or is mapped there by a matrix ``W`` as ``y = x W^T``, the
convention of :class:`speechbrain_align.nnet.mapping.LinearMapping`), with
plain cosine nearest neighbours ("nn") and with CSLS, and scores an item as a
hit at ``k`` when one of its gold words is among the ``k`` best candidates,
as MUSE's word-translation evaluation does.

Items are never silently dropped: an item whose query key has no vector is
counted in ``skipped_no_query``; an item none of whose gold words is in the
target vocabulary is counted in ``skipped_no_gold``; both are logged with an
example. Precisions are percentages over the scored items.

The CSLS hubness term of a target word is taken over the whole query space
(all vectors of ``queries``, not only the evaluated ones), as in MUSE.

Result dictionary keys: ``task``, ``n_items``, ``n_scored``, ``n_skipped``,
``skipped_no_query``, ``skipped_no_gold``, ``gold_words_oov`` (gold words
ignored because out of the target vocabulary, in scored items),
``n_queries`` (distinct query vectors searched), ``<method>_P@<k>`` (e.g.
``nn_P@1``, ``csls_P@5``; ``None`` when nothing was scored), ``ks``,
``methods``, ``csls_k`` and, when asked, ``predictions`` (one dict per
scored item: ``query``, ``gold``, the top ``max(ks)`` words per method and
``<method>_rank``, the 1-based rank of the first gold word, or ``None``
when it is not in the top ``max(ks)``).
"""

import logging
import numpy as np

from speechbrain_align.dataio.dictionaries import group_by_source
from speechbrain_align.dataio.vectors import Embeddings
from speechbrain_align.retrieval.metrics import (
    METHODS,
    first_gold_rank,
    precision_at,
    ranked_candidates,
)
from speechbrain_align.retrieval.search import normalize_rows

logger = logging.getLogger(__name__)


def map_vectors(vectors, mapping=None):
    """Unit-normalise rows, map them by ``mapping`` (``y = x W^T``), re-normalise.

    Arguments
    ---------
    vectors : array-like, shape (n, d_src)
    mapping : array-like, shape (d_tgt, d_src), optional

    Example
    -------
    >>> w = np.array([[0.0, 1.0], [1.0, 0.0]])  # swaps the coordinates
    >>> map_vectors([[3.0, 4.0]], w).tolist()
    [[0.800000011920929, 0.6000000238418579]]
    """
    x = normalize_rows(vectors)
    if mapping is None:
        return x
    w = np.asarray(mapping, dtype=np.float32)
    if w.ndim != 2 or w.shape[1] != x.shape[1]:
        raise ValueError(
            f"mapping of shape {w.shape} cannot map vectors of dim {x.shape[1]} "
            "(expected (target_dim, source_dim), applied as x @ W.T)"
        )
    return normalize_rows(x @ w.T)


def _lookup(emb, key):
    row = emb.index.get(key)
    if row is None and not isinstance(key, str):
        row = emb.index.get(str(key))
    return row


def score_items(
    queries,
    target,
    items,
    mapping=None,
    ks=(1, 5),
    methods=METHODS,
    csls_k=10,
    exclude_query_word=False,
    return_predictions=False,
    use_gpu=False,
    task="retrieval",
):
    """Score ``(query_key, gold_words)`` items by NN and CSLS retrieval.

    Arguments
    ---------
    queries : Embeddings
        Query vectors keyed by query key (a word type, a cluster id...), in
        the target space, or in a source space when ``mapping`` is given.
    target : Embeddings
        Candidate words.
    items : iterable of (query_key, iterable of str)
        Several items may share a query key (e.g. one item per test segment
        of a cluster); the key is searched once.
    mapping : array-like, optional
        ``W`` of shape (target dim, query dim), applied as ``x W^T`` to the
        unit-normalised query vectors.
    ks : tuple of int
        Cut-offs for P@k.
    methods : tuple of "nn" / "csls"
    csls_k : int
        Neighbourhood size of the CSLS hubness terms.
    exclude_query_word : bool
        Remove the target word equal to the query key from the candidates.
    return_predictions : bool
        Add per-item predictions (top ``max(ks)`` words per method).
    use_gpu : bool
        Search on a GPU when one is available.
    task : str
        Name stored in the result.

    Returns
    -------
    dict
        See the module docstring.

    Example
    -------
    >>> tgt = Embeddings(["cat", "dog", "car"], np.eye(3))
    >>> qs = Embeddings(["q1", "q2"], [[1.0, 0.1, 0.0], [0.0, 0.2, 1.0]])
    >>> r = score_items(qs, tgt, [("q1", ["cat"]), ("q2", ["dog"]), ("q3", ["cat"])], ks=(1, 2))
    >>> r["nn_P@1"], r["nn_P@2"], r["n_scored"], r["skipped_no_query"]
    (50.0, 100.0, 2, 1)
    """
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r} (use {METHODS})")
    ks = tuple(sorted(set(int(k) for k in ks)))
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive integers, got {ks}")
    space = map_vectors(queries.vectors, mapping)
    if space.shape[1] != target.dim:
        raise ValueError(
            f"query vectors have dim {space.shape[1]} but target vectors dim {target.dim}"
        )
    tgt = normalize_rows(target.vectors)

    rows, golds, keys = [], [], []
    n_items = no_query = no_gold = gold_oov = 0
    example_no_query = example_no_gold = None
    for key, gold_words in items:
        n_items += 1
        row = _lookup(queries, key)
        if row is None:
            no_query += 1
            example_no_query = key if example_no_query is None else example_no_query
            continue
        gold_words = list(gold_words)
        gold = sorted({target.index[w] for w in gold_words if w in target.index})
        if not gold:
            no_gold += 1
            example_no_gold = key if example_no_gold is None else example_no_gold
            continue
        gold_oov += sum(1 for w in set(gold_words) if w not in target.index)
        rows.append(row)
        golds.append(gold)
        keys.append(key)
    if no_query:
        logger.warning(
            "%s: skipped %d of %d items whose query has no vector (e.g. %r)",
            task, no_query, n_items, example_no_query,
        )
    if no_gold:
        logger.warning(
            "%s: skipped %d of %d items with no gold word in the target vocabulary (e.g. %r)",
            task, no_gold, n_items, example_no_gold,
        )

    unique_rows, item_query = np.unique(np.asarray(rows, dtype=np.int64), return_inverse=True)
    n_cand = max(ks) + (1 if exclude_query_word else 0)
    result = {
        "task": task,
        "n_items": n_items,
        "n_scored": len(rows),
        "n_skipped": no_query + no_gold,
        "skipped_no_query": no_query,
        "skipped_no_gold": no_gold,
        "gold_words_oov": gold_oov,
        "n_queries": int(len(unique_rows)),
        "ks": list(ks),
        "methods": list(methods),
        "csls_k": csls_k,
    }
    excluded = None
    if exclude_query_word:
        excluded = np.array(
            [_lookup(target, queries.words[r]) for r in unique_rows], dtype=object
        )
    predictions, ranks = {}, {}
    for method in methods:
        if len(unique_rows):
            top = ranked_candidates(space[unique_rows], tgt, n_cand, method, csls_k,
                                    query_space=space, use_gpu=use_gpu)
            top = _drop_excluded(top, excluded, max(ks))
        else:
            top = np.zeros((0, max(ks)), dtype=np.int64)
        predictions[method] = top
        ranks[method] = first_gold_rank(top, golds, item_query)
        for k in ks:
            p = precision_at(ranks[method], k)
            result[f"{method}_P@{k}"] = None if p is None else 100.0 * p
    if return_predictions:
        result["predictions"] = [
            {
                "query": key,
                "gold": [target.words[g] for g in gold],
                **{m: [target.words[j] for j in predictions[m][q]] for m in methods},
                **{
                    f"{m}_rank": (int(ranks[m][n]) + 1 if ranks[m][n] < max(ks) else None)
                    for m in methods
                },
            }
            for n, (key, gold, q) in enumerate(zip(keys, golds, item_query))
        ]
    return result


def _drop_excluded(top, excluded, k):
    """Remove each row's excluded index (if any) and keep the first ``k``."""
    if excluded is None:
        return top[:, :k]
    # with the excluded word among them, only top.shape[1] - 1 candidates remain
    width = k if top.shape[1] > k else top.shape[1] - 1
    out = np.empty((len(top), width), dtype=top.dtype)
    for r, (row, skip) in enumerate(zip(top, excluded)):
        kept = row if skip is None else row[row != skip]
        out[r] = kept[: out.shape[1]]
    return out


def evaluate_word_classification(queries, target, items, **kwargs):
    """Spoken word classification: accuracy (= P@1) and P@5 of gold words.

    Arguments
    ---------
    queries : Embeddings
        One vector per query key: a speech word type (config A: keyed by the
        type's label) or a cluster / unit id (config B: keyed by the id).
    target : Embeddings
        Text word vectors (the label space).
    items : iterable of (query_key, gold_word)
        Type level: one item per word type. Segment level: one item per test
        segment, ``(its cluster id, its gold word)``, so a cluster holding
        segments of several words can only be right for some of them.
    **kwargs
        Passed to :func:`score_items` (``mapping``, ``ks``, ``methods``,
        ``csls_k``, ``return_predictions``, ``use_gpu``).

    Example
    -------
    >>> tgt = Embeddings(["yes", "no"], np.eye(2))
    >>> clusters = Embeddings(["0", "1"], [[1.0, 0.2], [0.1, 1.0]])
    >>> segs = [(0, "yes"), (0, "yes"), (0, "no"), (1, "no")]
    >>> r = evaluate_word_classification(clusters, tgt, segs, ks=(1,), methods=("nn",))
    >>> r["nn_P@1"], r["n_scored"]
    (75.0, 4)
    """
    return score_items(
        queries, target, ((key, [gold]) for key, gold in items),
        task="word_classification", **kwargs,
    )


def evaluate_synonyms(queries, target, synonyms, **kwargs):
    """Synonym retrieval: a hit at k when any synonym is among the top k.

    The target word equal to the query word is removed from the candidates
    (and from its own synonym set).

    Arguments
    ---------
    queries : Embeddings
        Query word vectors (e.g. spoken word types), keyed by word.
    target : Embeddings
        Text word vectors.
    synonyms : dict of str -> iterable of str
        Pivot synonym sets: query word -> its synonyms.
    **kwargs
        Passed to :func:`score_items`.

    Example
    -------
    >>> tgt = Embeddings(["big", "large", "small"], [[1, 0], [0.9, 0.3], [0, 1]])
    >>> spoken = Embeddings(["big"], [[1.0, 0.05]])
    >>> evaluate_synonyms(spoken, tgt, {"big": {"large"}}, ks=(1,), methods=("nn",))["nn_P@1"]
    100.0
    """
    items = [(w, set(s) - {w}) for w, s in synonyms.items()]
    kwargs.setdefault("exclude_query_word", True)
    return score_items(queries, target, items, task="synonyms", **kwargs)


def evaluate_translation(queries, target, pairs, **kwargs):
    """Word translation P@k as in MUSE: one item per distinct source word.

    Arguments
    ---------
    queries : Embeddings
        Source word vectors (already mapped, or mapped by ``mapping=W``).
    target : Embeddings
        Target-language word vectors.
    pairs : iterable of (source, target) or dict source -> targets
        Bilingual dictionary; a source word with several translations is a
        hit when any of them is retrieved.
    **kwargs
        Passed to :func:`score_items`.

    Example
    -------
    >>> tgt = Embeddings(["perro", "gato", "coche"], np.eye(3))
    >>> src = Embeddings(["dog", "cat", "car"], np.eye(3))
    >>> r = evaluate_translation(src, tgt, [("dog", "perro"), ("cat", "gato"), ("cat", "minino")])
    >>> r["csls_P@1"], r["n_scored"], r["gold_words_oov"]
    (100.0, 2, 1)
    """
    grouped = pairs if isinstance(pairs, dict) else group_by_source(pairs)
    return score_items(queries, target, list(grouped.items()), task="translation", **kwargs)


def rank_band_name(lo, hi):
    """Name of a frequency-rank band in results: ``top500``, ``ranks500_1000``.

    Example
    -------
    >>> rank_band_name(0, 500), rank_band_name(500, 1000)
    ('top500', 'ranks500_1000')
    """
    return f"top{hi}" if lo == 0 else f"ranks{lo}_{hi}"


def evaluate_word_types(types, target, gold, bands=((0, 500), (500, 1000)), **kwargs):
    """Type-level retrieval: CSLS P@1 of the speech types in frequency-rank bands.

    Arguments
    ---------
    types : Embeddings
        Speech word types (rows sorted by decreasing count), in the target
        space or mapped there by ``mapping=W`` (see :func:`score_items`).
    target : Embeddings
        Text word vectors.
    gold : dict
        Type key -> its gold words (its label, the majority word of a cluster
        or unit, or the label's translations); types without gold are not scored.
    bands : tuple of (int, int)
        Half-open ranges of frequency ranks ``[lo, hi)`` over ``types``.
    **kwargs
        Passed to :func:`score_items` (``mapping``, ``csls_k``...).

    Returns
    -------
    dict
        ``<band>_csls_P@1`` (percent, None when nothing was scored) and
        ``n_<band>`` (types scored) per band, named by :func:`rank_band_name`.

    Example
    -------
    >>> tgt = Embeddings(["a", "b", "c"], np.eye(3))
    >>> spk = Embeddings(["u0", "u1", "u2"], np.eye(3)[[0, 2, 1]], [9, 5, 1])
    >>> r = evaluate_word_types(spk, tgt, {"u0": ["a"], "u1": ["b"], "u2": ["b"]}, bands=((0, 2), (2, 3)))
    >>> r["top2_csls_P@1"], r["n_top2"], r["ranks2_3_csls_P@1"]
    (50.0, 2, 100.0)
    """
    order = types.sorted_by_count()
    out = {}
    for lo, hi in bands:
        name = rank_band_name(lo, hi)
        items = [(key, gold[key]) for key in order.words[lo:hi] if gold.get(key)]
        res = score_items(order, target, items, ks=(1,), methods=("csls",),
                          task=f"word types {name}", **kwargs)
        out[f"{name}_csls_P@1"] = res["csls_P@1"]
        out[f"n_{name}"] = res["n_scored"]
    return out
