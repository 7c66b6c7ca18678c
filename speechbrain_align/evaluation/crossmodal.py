"""Cross-modal evaluation of one speech configuration against text spaces.

A *speech space* bundles what every configuration of the paper's tables
needs, whatever its word-type vectors are (A: averaged by word label,
B: k-means clusters, F: equal-size chunks, units: unit skip-gram):

- ``types``: the word-type vectors that are aligned with the text space;
- ``labels``: the word each type stands for (itself for A and F, the
  majority word of its segments for clusters and units), used for the
  supervised dictionary of A*, for synonyms and for translation;
- ``test_queries`` and ``test_items``: one query vector per held-out test
  segment (its own encoder vector for A/F, the vector of its cluster or unit
  for B/units) with the segment's gold word, for spoken word classification.

All vectors are normalised with the same steps as the mapper was trained
with; test queries are centred with the mean of the training types, so that
a query is transformed exactly as the space ``W`` was learned on.
"""

import dataclasses
import logging

import numpy as np

from speechbrain_align.alignment.normalization import apply_normalizer, fit_normalizer, normalize_embeddings
from speechbrain_align.dataio.dictionaries import group_by_source
from speechbrain_align.dataio.vectors import Embeddings
from speechbrain_align.evaluation.tasks import (
    evaluate_translation,
    evaluate_word_classification,
    evaluate_word_types,
    score_items,
)

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class SpeechSpace:
    """Word-type vectors of one configuration plus its test queries.

    Arguments
    ---------
    name : str
        Row name in the tables (e.g. ``"A"``).
    types : Embeddings
        Type vectors to align (with counts, for frequency ranking).
    labels : dict
        Type key -> the word it stands for.
    test_queries : Embeddings or None
        Vectors queried for spoken word classification, keyed by segment id
        or by type key.
    test_items : list of (query_key, gold_word)
        One item per test segment.
    """

    name: str
    types: Embeddings
    labels: dict
    test_queries: Embeddings = None
    test_items: list = dataclasses.field(default_factory=list)

    def label_dictionary(self, vocabulary):
        """(type, word) pairs whose word is in ``vocabulary``: the A* dictionary."""
        return [(k, w) for k, w in self.labels.items() if w in vocabulary and k in self.types.index]

    def translation_pairs(self, dictionary):
        """(type, foreign word) pairs: each type's label looked up in a bilingual dictionary.

        Example
        -------
        >>> space = SpeechSpace("B", Embeddings(["c0"], [[1.0]]), {"c0": "god"})
        >>> space.translation_pairs([("god", "dios"), ("god", "dios"), ("man", "hombre")])
        [('c0', 'dios')]
        """
        by_word = group_by_source(dictionary)
        return [(key, dst) for key, word in self.labels.items() for dst in by_word.get(word, ())]


def normalize_like(x, reference, steps):
    """Apply normalisation ``steps`` to ``x`` using ``reference``'s statistics.

    ``center`` subtracts the mean of ``reference`` (after the preceding
    steps), so that held-out queries are transformed exactly like the
    training space.

    Example
    -------
    >>> ref = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> normalize_like(np.array([[1.0, 1.0]]), ref, ["center"]).tolist()
    [[0.5, 0.5]]
    """
    return apply_normalizer(x, fit_normalizer(reference, steps)[1])


def label_space(name, types, test_segments, test_rows, min_count=1):
    """Config A / F: types keyed by word; each test segment queries with its own vector.

    Arguments
    ---------
    types : Embeddings
        Averaged vectors keyed by word label (counts = segments).
    test_segments : Embeddings or None
        Encoder vectors of the test segments keyed by segment id.
    test_rows : list of dict
        Manifest rows of the test segments (``ID``, ``word``).
    min_count : int
        Keep types seen at least this often in training.
    """
    if types.counts is not None and min_count > 1:
        types = types.subset(np.flatnonzero(types.counts >= min_count))
    labels = {w: w for w in types.words}
    items = []
    if test_segments is not None:
        items = [(r["ID"], r["word"]) for r in test_rows if r["ID"] in test_segments.index]
    return SpeechSpace(name, types.sorted_by_count(), labels, test_segments, items)


def majority_labels(assignment, rows):
    """Cluster key -> the word most of its ``rows`` carry (ties: the first word in sort order).

    Example
    -------
    >>> rows = [{"ID": "s1", "word": "b"}, {"ID": "s2", "word": "a"}, {"ID": "s3", "word": "b"}]
    >>> majority_labels({"s1": "c0", "s2": "c0", "s3": "c0"}, rows)
    {'c0': 'b'}
    """
    votes = {}
    for row in rows:
        key = assignment.get(row["ID"])
        if key is not None:
            votes.setdefault(key, {}).setdefault(row["word"], 0)
            votes[key][row["word"]] += 1
    return {k: max(sorted(v), key=v.get) for k, v in votes.items()}


def cluster_space(name, types, train_assignment, train_rows, test_assignment, test_rows):
    """Config B / units: types are clusters; labels are majority words.

    Arguments
    ---------
    types : Embeddings
        One vector per cluster/unit (keys like ``c00017`` / ``u00017``).
    train_assignment, test_assignment : dict
        Segment id -> cluster key, for training and test segments.
    train_rows, test_rows : list of dict
        Manifest rows (``ID``, ``word``).
    """
    labels = majority_labels(train_assignment, train_rows)
    items = [(test_assignment[r["ID"]], r["word"]) for r in test_rows if r["ID"] in test_assignment]
    return SpeechSpace(name, types.sorted_by_count(), labels, types, items)


def _prepared(space, text, steps):
    """Normalised copies of the space's types, test queries and the text vectors."""
    types = Embeddings(space.types.words, normalize_embeddings(space.types.vectors, steps), space.types.counts)
    tgt = Embeddings(text.words, normalize_embeddings(text.vectors, steps), text.counts)
    queries = None
    if space.test_queries is not None:
        queries = Embeddings(
            space.test_queries.words,
            normalize_like(space.test_queries.vectors, space.types.vectors, steps),
        )
    return types, queries, tgt


def evaluate_space(space, text, mapping, steps, synonyms=None, dictionary=None, ks=(1, 5)):
    """Score one mapped speech space on the tasks its arguments allow.

    Same-language text (no ``dictionary``): spoken word classification of
    the test segments, and synonym retrieval when ``synonyms`` are given.
    Foreign text (``dictionary`` given): spoken word translation only.

    Arguments
    ---------
    space : SpeechSpace
    text : Embeddings
        Target text vectors (same language for classification and synonyms,
        the foreign language for translation).
    mapping : np.ndarray
        ``W`` from :func:`speechbrain_align.alignment.pipeline.align`.
    steps : list of str
        The normalisation the mapping was trained with.
    synonyms : dict, optional
        Word -> synonym set (same language as ``text``).
    dictionary : list of (str, str), optional
        Bilingual pairs, source word -> word of ``text``'s language.

    Returns
    -------
    dict task -> result dict of :mod:`speechbrain_align.evaluation.tasks`;
    ``word_types`` holds the type-level retrieval of
    :func:`~speechbrain_align.evaluation.tasks.evaluate_word_types` (gold: each
    type's label, or its label's translations in ``dictionary``).
    """
    types, queries, tgt = _prepared(space, text, steps)
    out = {}
    if dictionary is None:
        gold = {key: [word] for key, word in space.labels.items()}
    else:
        by_word = group_by_source(dictionary)
        gold = {key: by_word.get(word, ()) for key, word in space.labels.items()}
    out["word_types"] = evaluate_word_types(types, tgt, gold, mapping=mapping)
    if queries is not None and space.test_items and dictionary is None:
        out["classification"] = evaluate_word_classification(
            queries, tgt, space.test_items, mapping=mapping, ks=ks
        )
    if synonyms is not None and dictionary is None:
        items = []
        for key, word in space.labels.items():
            syn = set(synonyms.get(word, ())) - {word}
            if syn:
                items.append((key, syn))
        out["synonyms"] = _score_excluding_label(types, tgt, items, space.labels, mapping, ks)
    if dictionary is not None:
        pairs = space.translation_pairs(dictionary)
        out["translation"] = evaluate_translation(types, tgt, pairs, mapping=mapping, ks=ks)
    return out


def _score_excluding_label(types, tgt, items, labels, mapping, ks):
    """Synonym retrieval where each type's own label is not a candidate."""
    # Re-key the queries by their label so that score_items can exclude the
    # query word itself; keys whose label repeats keep the first type.
    seen, rows, keyed = set(), [], []
    for key, syn in items:
        label = labels[key]
        if label in seen or key not in types.index:
            continue
        seen.add(label)
        rows.append(types.index[key])
        keyed.append((label, syn))
    relabelled = Embeddings([labels[types.words[r]] for r in rows], types.vectors[rows])
    return score_items(
        relabelled, tgt, keyed, mapping=mapping, ks=ks, exclude_query_word=True, task="synonyms"
    )
