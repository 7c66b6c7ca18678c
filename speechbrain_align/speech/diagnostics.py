"""What do word-type vectors know: semantics, spelling or sound?

For a set of vectors that stand for word types, either directly (the
vector file's words are word types) or through clusters/units (the vector
file's words are unit names and a segment -> unit assignment, together with
the manifest's word labels, gives each unit its majority word), this module
reports:

* ``overlap_text``: overlap@k of nearest neighbours with text skip-gram
  vectors trained on the same utterances' transcripts (semantic structure);
* ``overlap_spelling`` / ``overlap_phones``: overlap@k with the neighbours by
  Levenshtein distance of the spelling, and of the phone sequence (manifest
  column ``phones``, space-separated symbols per segment; the most frequent
  transcription of a word type is used) (phonetic structure);
* Spearman's rho on WordSim-353 and SimLex-999 and the number of pairs
  covered;
* for clusters: purity, word types covered and number of clusters.

How neighbours and overlap are defined
--------------------------------------
Every vector gets a *label*: its word (word-type vectors) or its unit's
majority word (units; a unit with no labelled segment gets none). For each
label ``w`` a *representative* vector is chosen: the word's own vector, or
for units the unit that holds the most segments of ``w`` among the units
whose majority word is ``w``.

Overlap@k is computed over a vocabulary ``V``: labels with at least
``min_count`` segments in the manifest that the reference also knows (for
text: words with a text vector; for phones: words with a transcription).
The *vector neighbours* of ``w`` are found with exact cosine search
(:func:`speechbrain_align.retrieval.search.knn`) from its representative
among all vectors whose label is in ``V``; hits are mapped to their labels,
``w`` itself and repeated labels are dropped, and the first ``k`` distinct
labels are kept (the search is widened until ``k`` are found). So for units,
several units with the same majority word count once. The *reference
neighbours* are the ``k`` nearest other words of ``V`` by text cosine or by
edit distance (edit-distance ties are broken by decreasing manifest
frequency, then alphabetically). Overlap@k is the mean over ``V`` of
``|vector neighbours & reference neighbours| / k``; chance level is about
``k / (|V| - 1)``, and the optional random-vectors row measures it with the
same labels.

Command line::

    python -m speechbrain_align.speech.diagnostics --vectors X.vec \\
        --manifest train.csv [--assignment a.csv] [--text-vectors T.vec] \\
        --out diag.json [--random-baseline] [--text-row]

writes ``diag.json`` and a Markdown table ``diag.md``.
"""

import argparse
import collections
import logging
import os
import sys

import numpy as np

from speechbrain_align.dataio.manifest import ManifestError, group_by_utterance
from speechbrain_align.dataio.vectors import Embeddings
from speechbrain_align.retrieval.search import knn, normalize_rows
from speechbrain_align.utils.files import atomic_write, write_json

logger = logging.getLogger(__name__)

SIMILARITY_SETS = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}


# ---------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------


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
        from speechbrain_align.speech.units import unit_majority

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


# ---------------------------------------------------------------------------
# Neighbours
# ---------------------------------------------------------------------------


def vector_neighbours(lv, vocab, k=10):
    """``k`` nearest distinct labels (within ``vocab``) of each label of ``vocab``.

    Queries are the labels' representative vectors; candidates are all
    vectors whose label is in ``vocab`` (cosine, exact faiss search); hits are
    mapped to labels, the query's own label and repeats dropped.

    Example
    -------
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


# ---------------------------------------------------------------------------
# Word similarity
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Text reference
# ---------------------------------------------------------------------------


def transcript_sentences(rows):
    """Word sequences of the manifest's utterances (empty labels dropped)."""
    sentences = []
    for utt_rows in group_by_utterance(rows).values():
        words = [r["word"] for r in utt_rows if r.get("word")]
        if words:
            sentences.append(words)
    return sentences


def train_text_vectors(rows, dim=50, window=5, min_count=1, epochs=20, seed=0, workers=1):
    """Skip-gram vectors of the manifest's transcripts (the semantic reference)."""
    from speechbrain_align.speech.units import skipgram

    sentences = transcript_sentences(rows)
    if not sentences:
        raise ManifestError("manifest has no word labels: cannot train text vectors")
    return skipgram(
        sentences, dim=dim, window=window, min_count=min_count, epochs=epochs,
        workers=workers, seed=seed,
    )


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------


class _References:
    """Reference neighbour lists, computed once per vocabulary and shared by rows."""

    def __init__(self, rows, text_vectors, k, min_count):
        self.k = k
        self.counts = word_counts(rows)
        self.phones = word_phones(rows)
        self.text = LabelledVectors.from_words(text_vectors) if text_vectors is not None else None
        self.min_count = min_count
        self._cache = {}

    def vocab(self, labels, kind):
        words = sorted(w for w in set(labels) if self.counts.get(w, 0) >= self.min_count)
        if kind == "text":
            words = [w for w in words if self.text is not None and w in self.text.rep]
        elif kind == "phones":
            words = [w for w in words if w in self.phones]
        return words

    def neighbours(self, vocab, kind):
        key = (kind, tuple(vocab))
        if key not in self._cache:
            if kind == "text":
                value = vector_neighbours(self.text, vocab, self.k)
            else:
                seqs = [w if kind == "spelling" else self.phones[w] for w in vocab]
                tiebreak = [-self.counts.get(w, 0) for w in vocab]
                value = edit_neighbours(seqs, vocab, self.k, tiebreak=tiebreak)
            self._cache[key] = value
        return self._cache[key]


def evaluate_labelled(lv, refs, similarity_pairs, name, min_pairs=10):
    """All overlap and similarity metrics of one set of labelled vectors."""
    out = {"name": name, "n_vectors": len(lv.vectors), "n_labels": len(lv.rep)}
    for kind in ("text", "spelling", "phones"):
        if kind == "text" and refs.text is None:
            continue
        if kind == "phones" and not refs.phones:
            continue
        vocab = refs.vocab(lv.rep.keys(), kind)
        if len(vocab) < 2:
            out[f"overlap_{kind}"], out[f"n_compared_{kind}"] = None, len(vocab)
            continue
        mine = vector_neighbours(lv, vocab, refs.k)
        value, n = overlap_at_k(mine, refs.neighbours(vocab, kind), refs.k)
        out[f"overlap_{kind}"], out[f"n_compared_{kind}"] = value, n
        out[f"chance_{kind}"] = min(1.0, refs.k / (len(vocab) - 1))
    for set_name, pairs in similarity_pairs.items():
        rho, covered, total = similarity_spearman(lv, pairs, min_pairs=min_pairs)
        out[f"{set_name}_rho"], out[f"{set_name}_pairs"] = rho, covered
        out[f"{set_name}_total_pairs"] = total
    return out


def diagnose(
    vectors,
    rows,
    assignment=None,
    text_vectors=None,
    k=10,
    min_count=1,
    similarity_files=None,
    random_baseline=False,
    text_row=False,
    text_options=None,
    seed=0,
    name="vectors",
    min_pairs=10,
):
    """Report what word-type (or unit) vectors know; see the module docstring.

    Arguments
    ---------
    vectors : Embeddings
        Word-type vectors, or unit vectors when ``assignment`` is given.
    rows : list of dict
        Manifest rows (``ID``, ``word``, ``utt_id``, ``position``, optional
        ``phones``).
    assignment : dict, optional
        Segment ID -> unit name; makes ``vectors`` unit vectors labelled by
        their majority word.
    text_vectors : Embeddings, optional
        Semantic reference; trained on the manifest transcripts when None.
    k : int
        Neighbours compared (overlap@k).
    min_count : int
        Word types with fewer segments are left out of the overlaps.
    similarity_files : dict name -> path, optional
        Defaults to WordSim-353 and SimLex-999 from the gensim wheel.
    min_pairs : int
        Spearman's rho is reported (else None) only when at least this many
        pairs of a similarity set are covered.
    random_baseline : bool
        Add a row with random Gaussian vectors, same labels (chance level).
    text_row : bool
        Add a row for text skip-gram vectors trained on the transcripts
        with another seed (the seed-to-seed ceiling of ``overlap_text`` and
        the spelling/phone overlap of text vectors).
    text_options : dict, optional
        ``dim``, ``window``, ``min_count``, ``epochs`` of the text skip-gram.

    Returns
    -------
    dict with ``rows`` (one dict of metrics per row), ``notes`` and ``options``.
    """
    text_options = dict(text_options or {})
    notes = []
    if not any(r.get("word") for r in rows):
        raise ManifestError("manifest has no word labels: nothing to diagnose against")
    if text_vectors is None:
        text_vectors = train_text_vectors(rows, seed=seed, **text_options)
        notes.append(
            f"text reference: skip-gram trained here on {len(transcript_sentences(rows))} "
            f"transcripts ({len(text_vectors)} word types)"
        )
    refs = _References(rows, text_vectors, k, min_count)
    if not refs.phones:
        notes.append("phones: manifest has no 'phones' column (or it is empty); phone overlap skipped")
    if similarity_files is None:
        similarity_files = default_similarity_files()
        if len(similarity_files) < len(SIMILARITY_SETS):
            notes.append("word similarity: some gensim test files were not found; skipped")
    similarity_pairs = {n: read_similarity_pairs(p) for n, p in similarity_files.items()}

    if assignment is None:
        lv = LabelledVectors.from_words(vectors)
        unknown = sum(1 for w in vectors.words if w not in refs.counts)
        if unknown:
            notes.append(f"{unknown} of {len(vectors)} vector words never occur in the manifest")
    else:
        lv = LabelledVectors.from_units(vectors, rows, assignment)
        unlabelled = sum(1 for lab in lv.labels if lab is None)
        if unlabelled:
            notes.append(f"{unlabelled} unit vectors have no labelled segment; ignored")
    results = [evaluate_labelled(lv, refs, similarity_pairs, name, min_pairs)]
    if assignment is not None:
        from speechbrain_align.speech.units import clustering_purity

        results[0].update(clustering_purity(rows, assignment))
    if random_baseline:
        rng = np.random.default_rng(seed)
        rand = lv.with_vectors(rng.normal(size=lv.vectors.shape).astype(np.float32))
        results.append(
            evaluate_labelled(rand, refs, similarity_pairs, "random vectors", min_pairs)
        )
    if text_row:
        other = train_text_vectors(rows, seed=seed + 1, **text_options)
        results.append(
            evaluate_labelled(
                LabelledVectors.from_words(other), refs, similarity_pairs,
                "text skip-gram (other seed)", min_pairs,
            )
        )
    return {
        "rows": results,
        "notes": notes,
        "options": {"k": k, "min_count": min_count, "seed": seed, "units": assignment is not None,
                    "min_pairs": min_pairs,
                    "text_options": text_options},
    }


def _fmt(value, n=None):
    if value is None:
        text = "-"
    elif isinstance(value, float):
        text = f"{value:.3f}"
    else:
        text = str(value)
    return text if n is None else f"{text} ({n})"


def markdown_table(report):
    """The report as a Markdown table (with notes) for READMEs and logs."""
    k = report["options"]["k"]
    headers = [
        "vectors", f"overlap@{k} text", f"overlap@{k} spelling", f"overlap@{k} phones",
        "WS353 rho", "SimLex rho", "purity", "clusters", "types covered",
    ]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in report["rows"]:
        cells = [
            row["name"],
            _fmt(row.get("overlap_text"), row.get("n_compared_text")),
            _fmt(row.get("overlap_spelling"), row.get("n_compared_spelling")),
            _fmt(row.get("overlap_phones"), row.get("n_compared_phones")),
            _fmt(row.get("wordsim353_rho"), row.get("wordsim353_pairs")),
            _fmt(row.get("simlex999_rho"), row.get("simlex999_pairs")),
            _fmt(row.get("purity")),
            _fmt(row.get("n_clusters")),
            _fmt(row.get("n_word_types_covered")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"Overlap@{k}: mean share of the {k} nearest labels shared with the reference "
        "(number of word types compared in brackets); rho: Spearman (pairs covered)."
    )
    chance = report["rows"][0].get("chance_spelling")
    if chance is not None:
        lines.append(f"Chance overlap is about {chance:.3f} (k / (types - 1)).")
    for note in report["notes"]:
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


def write_report(report, json_path):
    """Write ``report`` to ``json_path`` and the Markdown table next to it (``.md``), atomically."""
    write_json(json_path, report)
    md_path = os.path.splitext(os.fspath(json_path))[0] + ".md"
    with atomic_write(md_path) as handle:
        handle.write(markdown_table(report))
    return md_path


def run_diagnostics(
    vectors,
    manifest,
    out,
    assignment=None,
    text_vectors=None,
    save_text_vectors=None,
    name=None,
    text_options=None,
    seed=0,
    **kwargs,
):
    """File-level :func:`diagnose`: read inputs, write ``out`` (JSON) and its ``.md`` table.

    Arguments
    ---------
    vectors, manifest : str
        Vector file (``.vec``/``.npz``) and segment manifest.
    out : str
        Output JSON; the Markdown table goes to the same name with ``.md``.
    assignment : str, optional
        ``ID,unit`` (or ``ID,cluster``) CSV: the vectors are units.
    text_vectors : str, optional
        Semantic reference; trained on the manifest transcripts when absent
        (and written to ``save_text_vectors`` if given).
    **kwargs
        ``k``, ``min_count``, ``similarity_files``, ``random_baseline``,
        ``text_row``, ``min_pairs`` of :func:`diagnose`.

    Returns the report dict.
    """
    from speechbrain_align.dataio.manifest import read_segment_manifest
    from speechbrain_align.dataio.vectors import load_embeddings, save_embeddings
    from speechbrain_align.speech.units import read_assignment

    rows = read_segment_manifest(manifest)
    emb = load_embeddings(vectors)
    assign = read_assignment(assignment) if assignment else None
    text_options = dict(text_options or {})
    if text_vectors:
        text = load_embeddings(text_vectors)
    else:
        text = train_text_vectors(rows, seed=seed, **text_options)
        if save_text_vectors:
            save_embeddings(text, save_text_vectors)
    report = diagnose(
        emb, rows, assignment=assign, text_vectors=text, text_options=text_options, seed=seed,
        name=name or os.path.basename(os.fspath(vectors)), **kwargs,
    )
    if not text_vectors:
        report["notes"].insert(
            0, f"text reference: skip-gram trained here on the transcripts of {manifest} "
            f"({len(text)} word types)"
        )
    report["inputs"] = {"vectors": os.fspath(vectors), "manifest": os.fspath(manifest),
                        "assignment": assignment and os.fspath(assignment),
                        "text_vectors": text_vectors and os.fspath(text_vectors)}
    md_path = write_report(report, out)
    logger.info("Wrote %s and %s", out, md_path)
    return report


def main(argv=None):
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m speechbrain_align.speech.diagnostics",
        description="What word-type or unit vectors know: semantic vs phonetic neighbours, "
        "word similarity, cluster purity.",
    )
    parser.add_argument("--vectors", required=True, help=".vec/.npz of word types or units")
    parser.add_argument("--manifest", required=True, help="segment manifest CSV (word labels)")
    parser.add_argument("--assignment", help="ID,unit CSV: the vectors are units")
    parser.add_argument("--text-vectors", help="semantic reference; trained from the manifest if absent")
    parser.add_argument("--out", required=True, help="output JSON (a .md table is written next to it)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--min-count", type=int, default=1,
                        help="word types with fewer segments are left out of the overlaps")
    parser.add_argument("--min-pairs", type=int, default=10,
                        help="report Spearman only with at least this many pairs covered")
    parser.add_argument("--random-baseline", action="store_true")
    parser.add_argument("--text-row", action="store_true")
    parser.add_argument("--name", default=None, help="row name (default: vector file name)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--text-dim", type=int, default=50)
    parser.add_argument("--text-window", type=int, default=5)
    parser.add_argument("--text-epochs", type=int, default=20)
    parser.add_argument("--text-min-count", type=int, default=1)
    parser.add_argument("--save-text-vectors", help="write the text vectors trained here")
    parser.add_argument(
        "--similarity", action="append", default=None, metavar="NAME=PATH",
        help="word-similarity file(s) instead of WordSim-353/SimLex-999 from gensim",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    similarity_files = None
    if args.similarity:
        similarity_files = {}
        for item in args.similarity:
            if "=" not in item:
                parser.error(f"--similarity {item!r}: expected NAME=PATH")
            key, path = item.split("=", 1)
            similarity_files[key] = path
    report = run_diagnostics(
        args.vectors, args.manifest, args.out, assignment=args.assignment,
        text_vectors=args.text_vectors, save_text_vectors=args.save_text_vectors,
        name=args.name, seed=args.seed,
        text_options={"dim": args.text_dim, "window": args.text_window,
                      "epochs": args.text_epochs, "min_count": args.text_min_count},
        k=args.k, min_count=args.min_count, similarity_files=similarity_files,
        random_baseline=args.random_baseline, text_row=args.text_row, min_pairs=args.min_pairs,
    )
    sys.stdout.write(markdown_table(report))
    return report


if __name__ == "__main__":
    from speechbrain_align.utils.errors import run_main

    sys.exit(run_main(main))
