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

Labels are in :mod:`.labelled_vectors`, neighbour sets and overlap in
:mod:`.neighbours`, word-similarity benchmarks in :mod:`.word_similarity` and
the JSON/Markdown output in :mod:`.diagnostics_report`, the command line in
:mod:`.diagnostics_cli`; this module keeps the text reference,
:func:`diagnose` and :func:`run_diagnostics`, and re-exports their public names.
"""

import logging
import os
import sys

import numpy as np

from speechbrain_align.dataio.manifest import ManifestError, group_by_utterance

# The pieces live in their own modules; their public names stay importable from here.
from speechbrain_align.speech.diagnostics_report import markdown_table, write_report
from speechbrain_align.speech.labelled_vectors import LabelledVectors, word_counts, word_phones
from speechbrain_align.speech.neighbours import (
    edit_distance_matrix,
    edit_neighbours,
    overlap_at_k,
    vector_neighbours,
)
from speechbrain_align.speech.word_similarity import (
    SIMILARITY_SETS,
    default_similarity_files,
    read_similarity_pairs,
    similarity_spearman,
)

logger = logging.getLogger(__name__)

__all__ = [
    "LabelledVectors",
    "SIMILARITY_SETS",
    "default_similarity_files",
    "diagnose",
    "edit_distance_matrix",
    "edit_neighbours",
    "evaluate_labelled",
    "markdown_table",
    "overlap_at_k",
    "read_similarity_pairs",
    "run_diagnostics",
    "similarity_spearman",
    "train_text_vectors",
    "transcript_sentences",
    "vector_neighbours",
    "word_counts",
    "word_phones",
    "write_report",
]


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
        from speechbrain_align.speech.unit_tables import clustering_purity

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
    """Command-line entry point (:mod:`.diagnostics_cli`)."""
    from speechbrain_align.speech.diagnostics_cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    from speechbrain_align.utils.errors import run_main

    sys.exit(run_main(main))
