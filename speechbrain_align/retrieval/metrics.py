"""Retrieval metrics: ranked candidates, rank of the first gold key, P@k.

An item (a query with one or more gold keys) is a hit at ``k`` when one of
its gold keys is among the query's ``k`` best candidates, as in MUSE's
word-translation evaluation. Both the alignment pipeline's
``precision_at_k`` and the evaluation tasks' ``score_items`` are built on
these functions.
"""

import numpy as np

from speechbrain_align.retrieval.search import csls_knn, knn

METHODS = ("nn", "csls")


def ranked_candidates(queries, keys, k, method="csls", csls_k=10, query_space=None,
                      use_gpu=False):
    """Indices of the ``k`` best keys of each query row, best first.

    Arguments
    ---------
    queries, keys : array-like
        Unit-normalised rows.
    k : int
    method : "nn" or "csls"
    csls_k : int
        Neighbourhood size of the CSLS hubness terms.
    query_space : array-like, optional
        Whole query space over which the hubness of a key is taken (default:
        ``queries``), as MUSE does when only some queries are evaluated.
    use_gpu : bool

    Returns
    -------
    np.ndarray of int64, shape (n, min(k, len(keys)))

    Example
    -------
    >>> ranked_candidates(np.eye(2), np.eye(2)[::-1], 1, method="nn").tolist()
    [[1], [0]]
    """
    if method == "nn":
        return knn(queries, keys, k, use_gpu=use_gpu)[1]
    if method == "csls":
        # the hubness of a query only shifts its row: skip that search
        return csls_knn(queries, keys, k, csls_k=csls_k, use_gpu=use_gpu,
                        r_src=np.zeros(len(queries)), src_space=query_space)[1]
    raise ValueError(f"unknown retrieval method {method!r} (use 'nn' or 'csls')")


def first_gold_rank(top, golds, item_query=None):
    """0-based position of each item's first gold key in its query's ``top`` row.

    Arguments
    ---------
    top : array (n_queries, width)
        Ranked candidates of each query.
    golds : list of lists of int
        Gold keys of each item.
    item_query : array-like of int, optional
        Row of ``top`` of each item (default: item ``i`` uses row ``i``).

    Returns
    -------
    np.ndarray of int64
        ``width`` for an item with no gold key in its row.

    Example
    -------
    >>> top = np.array([[5, 3, 9], [1, 2, 4]])
    >>> first_gold_rank(top, [[9, 3], [7], [5]], np.array([0, 1, 0])).tolist()
    [1, 3, 0]
    """
    top = np.asarray(top)
    n_items, width = len(golds), top.shape[1]
    if n_items == 0:
        return np.zeros(0, dtype=np.int64)
    item_query = np.arange(n_items) if item_query is None else np.asarray(item_query)
    sizes = np.fromiter((len(g) for g in golds), dtype=np.int64, count=n_items)
    pair_item = np.repeat(np.arange(n_items), sizes)
    pair_gold = np.concatenate([np.asarray(g, dtype=np.int64).reshape(-1) for g in golds])
    match = top[item_query[pair_item]] == pair_gold[:, None]
    pair_rank = np.where(match.any(axis=1), match.argmax(axis=1), width)
    rank = np.full(n_items, width, dtype=np.int64)
    np.minimum.at(rank, pair_item, pair_rank)
    return rank


def precision_at(ranks, k):
    """Fraction of items whose first gold rank (0-based) is below ``k``; None if none.

    Example
    -------
    >>> precision_at(np.array([0, 3, 1]), 2)
    0.6666666666666666
    """
    ranks = np.asarray(ranks)
    return float((ranks < k).mean()) if len(ranks) else None


def gold_lists(pairs):
    """Distinct queries of ``(query, gold)`` index pairs and their sorted gold lists.

    Example
    -------
    >>> q, g = gold_lists([[1, 2], [0, 0], [1, 1]])
    >>> q.tolist(), g
    ([0, 1], [[0], [1, 2]])
    """
    gold = {}
    for s, t in np.asarray(pairs, dtype=np.int64).reshape(-1, 2):
        gold.setdefault(int(s), set()).add(int(t))
    queries = np.array(sorted(gold), dtype=np.int64)
    return queries, [sorted(gold[int(q)]) for q in queries]
