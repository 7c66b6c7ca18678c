"""Mapping matrices and dictionaries: save/load, word pairs to indices, P@k.

The pieces of :mod:`.pipeline` that other code (recipes, the experiment,
evaluation, benchmarks) uses without running an alignment: the mapping
``.npy`` files, dictionary pairs as row indices, loading two vector files of
one dimension, and the P@k of a mapping (through the one retrieval core,
:mod:`speechbrain_align.retrieval`).
"""

import logging

import numpy as np

from speechbrain_align.alignment.normalization import normalize_embeddings
from speechbrain_align.retrieval.metrics import (
    first_gold_rank,
    gold_lists,
    precision_at,
    ranked_candidates,
)
from speechbrain_align.retrieval.search import normalize_rows
from speechbrain_align.utils.errors import DamagedFileError, UserError
from speechbrain_align.utils.files import atomic_save, load_array_file

logger = logging.getLogger(__name__)


class AlignmentError(UserError, ValueError):
    """Inputs that cannot be aligned; the message names the file or key."""


def save_mapping(w, path):
    """Save the mapping matrix as ``.npy``, atomically.

    Example
    -------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "mapping.npy")
    >>> save_mapping(np.eye(3), p)
    >>> load_mapping(p).shape
    (3, 3)
    """
    w = np.asarray(w, dtype=np.float32)
    atomic_save(path, lambda p: np.save(p, w))


def load_mapping(path):
    """Load a mapping saved by :func:`save_mapping` (error names the file)."""
    try:
        w = load_array_file(path, "mapping .npy")
    except DamagedFileError as err:
        raise AlignmentError(str(err)) from err
    if not isinstance(w, np.ndarray) or w.ndim != 2 or not np.isfinite(w).all():
        raise AlignmentError(f"{path}: expected a finite 2-D matrix, got shape {w.shape}")
    return w.astype(np.float32)


def dictionary_indices(pairs, src_words, tgt_words, name="dictionary"):
    """Map word pairs to row indices; pairs outside a vocabulary are skipped (counted).

    Raises :class:`AlignmentError` naming ``name`` when no pair is left.

    Example
    -------
    >>> dictionary_indices([("a", "x"), ("b", "zz")], ["a", "b"], ["x", "y"]).tolist()
    [[0, 0]]
    >>> dictionary_indices([("c", "x")], ["a"], ["x"], name="d.txt")
    Traceback (most recent call last):
    ...
    speechbrain_align.alignment.mappings.AlignmentError: d.txt: no pair has both words inside the vocabularies (1 pairs read)
    """
    s_index = {w: i for i, w in enumerate(src_words)}
    t_index = {w: i for i, w in enumerate(tgt_words)}
    idx = [(s_index[s], t_index[t]) for s, t in pairs if s in s_index and t in t_index]
    if not idx:
        raise AlignmentError(
            f"{name}: no pair has both words inside the vocabularies ({len(pairs)} pairs read)"
        )
    if len(idx) < len(pairs):
        logger.warning("%s: %d of %d pairs have a word outside the vocabularies; skipped",
                       name, len(pairs) - len(idx), len(pairs))
    return np.asarray(idx, dtype=np.int64)


def precision_at_k(mapped_src, tgt, pairs, method="csls", k=1, csls_k=10):
    """Fraction of source words of ``pairs`` with a gold target in their top ``k``.

    ``mapped_src`` and ``tgt`` are whole vocabularies (normalised here); each
    source word counts once, whatever its number of gold translations.

    Example
    -------
    >>> t = np.eye(4, dtype="float32")
    >>> precision_at_k(t, t, [[0, 0], [1, 2], [1, 1], [3, 0]], method="nn")
    0.6666666666666666
    """
    src = normalize_rows(mapped_src)
    tgt = normalize_rows(tgt)
    queries, golds = gold_lists(pairs)
    top = ranked_candidates(src[queries], tgt, k, method, csls_k, query_space=src)
    return precision_at(first_gold_rank(top, golds), k)


def load_vector_pair(src_path, tgt_path, max_vocab=None):
    """Load two vector files, checking that their dimensions agree.

    Returns the two :class:`~speechbrain_align.dataio.vectors.Embeddings`
    sorted by decreasing count. A dimension mismatch raises
    :class:`AlignmentError` naming both files.
    """
    from speechbrain_align.dataio.vectors import load_embeddings

    src = load_embeddings(src_path, max_vocab=max_vocab).sorted_by_count()
    tgt = load_embeddings(tgt_path, max_vocab=max_vocab).sorted_by_count()
    if src.dim != tgt.dim:
        raise AlignmentError(
            f"{src_path} has dimension {src.dim} but {tgt_path} has dimension {tgt.dim}"
        )
    return src, tgt


def evaluate_mapping(src, tgt, w, pairs, normalize=("unit", "center", "unit"),
                     methods=("nn", "csls"), ks=(1,), csls_k=10):
    """P@k of the mapped source space on index ``pairs``, per retrieval method.

    ``src``/``tgt`` are raw matrices (rows by frequency); they are
    normalised with ``normalize`` as in :func:`align`. Returns a dict
    ``{"<method>_p@<k>": value}``.

    Example
    -------
    >>> x = np.random.default_rng(0).normal(size=(20, 4))
    >>> evaluate_mapping(x, x, np.eye(4), [[i, i] for i in range(20)])
    {'nn_p@1': 1.0, 'csls_p@1': 1.0}
    """
    xs = normalize_embeddings(src, normalize) @ np.asarray(w, dtype=np.float32).T
    ys = normalize_embeddings(tgt, normalize)
    return {
        f"{m}_p@{k}": precision_at_k(xs, ys, pairs, method=m, k=k, csls_k=csls_k)
        for m in methods for k in ks
    }
