"""Word-type labels for vectors: a word's own vector, or its unit's majority word.

Used by :mod:`.diagnostics`: every vector gets a label and every label a
representative vector; :func:`word_counts` and :func:`word_phones` read the
manifest's word and phone columns.
"""

import collections

import numpy as np


class LabelledVectors:
    """Vectors with a word label each and one representative row per label.

    Arguments
    ---------
    vectors : array (m, d)
    labels : list of str or None, length m
        ``None`` marks a vector with no label (ignored everywhere).
    rep : dict label -> row index
        The row that stands for each label in Spearman and as a query.
    names : list of str, optional
        The vector file's words (unit names), for reference.

    Example
    -------
    >>> from speechbrain_align.dataio.vectors import Embeddings
    >>> lv = LabelledVectors.from_words(Embeddings(["a", "b"], [[1, 0], [0, 1]]))
    >>> lv.labels, lv.rep
    (['a', 'b'], {'a': 0, 'b': 1})
    """

    def __init__(self, vectors, labels, rep, names=None):
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.labels = list(labels)
        self.rep = dict(rep)
        self.names = list(names) if names is not None else list(self.labels)

    @classmethod
    def from_words(cls, emb):
        """Word-type vectors: each vector is labelled by its own word."""
        return cls(emb.vectors, emb.words, {w: i for i, w in enumerate(emb.words)}, emb.words)

    @classmethod
    def from_units(cls, emb, rows, assignment):
        """Unit vectors labelled by their majority word (see module doc)."""
        from speechbrain_align.speech.unit_tables import unit_majority

        table = unit_majority(rows, assignment)
        labels, best = [], {}
        for i, unit in enumerate(emb.words):
            info = table.get(unit)
            if info is None:
                labels.append(None)
                continue
            word = info["word"]
            labels.append(word)
            if word not in best or info["majority"] > best[word][0]:
                best[word] = (info["majority"], i)
        rep = {w: i for w, (_, i) in best.items()}
        return cls(emb.vectors, labels, rep, emb.words)

    def with_vectors(self, vectors):
        """Same labels and representatives, other vectors (the random baseline)."""
        return LabelledVectors(vectors, self.labels, self.rep, self.names)


def word_counts(rows):
    """Number of segments of each non-empty word label in manifest rows."""
    return collections.Counter(r["word"] for r in rows if r.get("word"))


def word_phones(rows):
    """Most frequent ``phones`` transcription (a tuple of symbols) of each word.

    Returns an empty dict when the manifest has no ``phones`` column or it is
    empty everywhere.

    Example
    -------
    >>> rows = [{"word": "a", "phones": "ah"}, {"word": "a", "phones": "ey"},
    ...         {"word": "a", "phones": "ey"}, {"word": "b", "phones": ""}]
    >>> word_phones(rows)
    {'a': ('ey',)}
    """
    per_word = collections.defaultdict(collections.Counter)
    for row in rows:
        phones = (row.get("phones") or "").split()
        if row.get("word") and phones:
            per_word[row["word"]][tuple(phones)] += 1
    return {w: c.most_common(1)[0][0] for w, c in per_word.items()}
