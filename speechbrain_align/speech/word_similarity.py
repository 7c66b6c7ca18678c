"""Word-similarity benchmarks (WordSim-353, SimLex-999): files, pairs and Spearman's rho."""

import os

import numpy as np

from speechbrain_align.retrieval.search import normalize_rows

SIMILARITY_SETS = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}


def default_similarity_files():
    """Paths of WordSim-353 and SimLex-999 as shipped in the gensim wheel (present ones)."""
    try:
        import gensim
    except ImportError:
        return {}
    folder = os.path.join(os.path.dirname(gensim.__file__), "test", "test_data")
    paths = {name: os.path.join(folder, f) for name, f in SIMILARITY_SETS.items()}
    return {name: p for name, p in paths.items() if os.path.exists(p)}


def read_similarity_pairs(path):
    """Read ``word1<TAB>word2<TAB>score`` lines (``#`` comments), lower-cased.

    Errors name the file and line.

    Example
    -------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "s.tsv")
    >>> _ = open(p, "w").write("# c\\nTiger\\tcat\\t7.35\\n")
    >>> read_similarity_pairs(p)
    [('tiger', 'cat', 7.35)]
    """
    pairs = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) < 3:
                raise ValueError(f"{path}:{line_no}: expected 'word1<TAB>word2<TAB>score'")
            try:
                score = float(parts[2])
            except ValueError as err:
                raise ValueError(f"{path}:{line_no}: bad score {parts[2]!r}") from err
            pairs.append((parts[0].lower(), parts[1].lower(), score))
    return pairs


def similarity_spearman(lv, pairs, min_pairs=3):
    """Spearman's rho between human scores and cosines of representative vectors.

    Only pairs whose two words have a label are used. Returns
    ``(rho, n_pairs_covered, n_pairs)``; rho is None with fewer than
    ``min_pairs`` pairs covered (a rho on 3 pairs means little).

    Example
    -------
    >>> from speechbrain_align.dataio.vectors import Embeddings
    >>> from speechbrain_align.speech.labelled_vectors import LabelledVectors
    >>> lv = LabelledVectors.from_words(Embeddings(["a", "b", "c"], [[1, 0], [1, .5], [0, 1]]))
    >>> similarity_spearman(lv, [("a", "b", 9), ("a", "c", 1), ("b", "c", 8), ("a", "z", 3)])
    (1.0, 3, 4)
    """
    from scipy.stats import spearmanr

    unit = normalize_rows(lv.vectors)
    human, model = [], []
    for w1, w2, score in pairs:
        if w1 in lv.rep and w2 in lv.rep:
            human.append(score)
            model.append(float(unit[lv.rep[w1]] @ unit[lv.rep[w2]]))
    if len(human) < max(3, min_pairs):
        return None, len(human), len(pairs)
    rho = spearmanr(human, model).statistic
    return (None if not np.isfinite(rho) else float(rho)), len(human), len(pairs)
