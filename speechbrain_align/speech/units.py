"""Unit skip-gram: k-means units over word segments, then skip-gram over unit ids.

Speech2Vec trained on MFCC sequences mostly learns which words *sound*
alike. A cheaper representation that behaves more like text word2vec is to
quantise every word segment into one of ``K`` discrete "units" (k-means over
a fixed-size acoustic vector per segment) and to train an ordinary skip-gram
over the sequences of unit ids, utterance by utterance. With enough units a
unit is, ideally, one word type, and the skip-gram then sees the same
co-occurrence statistics as text word2vec. This goes beyond the paper.

Pipeline (:func:`train_unit_skipgram`):

1. one fixed-size vector per segment: the resized log-Mel image
   (:func:`segment_logmel_features`, cached as ``.npy``) or any segment-vector
   file whose "words" are segment IDs (:func:`load_segment_vectors`, e.g.
   Speech2Vec encoder outputs);
2. optional PCA / whitening (:func:`reduce_features`);
3. faiss k-means into ``n_units`` units (:func:`kmeans_units`), seeded;
4. skip-gram (sg=1) over the unit-id sequences in utterance order
   (:func:`unit_sentences`, :func:`skipgram`).

Outputs (:func:`run_unit_skipgram`): the unit vectors (``.vec`` with counts,
words ``u0017``), the segment -> unit assignment CSV (``ID,unit``) and, for
evaluation only, a per-unit table of majority word and purity
(:func:`unit_majority`, :func:`write_unit_table`).

Steps 1, 2-3 and the assignment/tables are in :mod:`.unit_features`,
:mod:`.clustering` and :mod:`.unit_tables`; this module keeps the skip-gram
and the whole step, and re-exports their public names.
"""

import collections
import functools
import inspect
import logging
import os

import numpy as np

from speechbrain_align.dataio.manifest import ManifestError, group_by_utterance
from speechbrain_align.dataio.vectors import Embeddings, save_embeddings

# The stages live in their own modules; their public names stay importable from here.
from speechbrain_align.speech.clustering import kmeans_plusplus, kmeans_units, reduce_features
from speechbrain_align.speech.unit_features import load_segment_vectors, segment_logmel_features
from speechbrain_align.speech.unit_tables import (
    clustering_purity,
    read_assignment,
    unit_majority,
    write_assignment,
    write_unit_table,
)
from speechbrain_align.text.skipgram import train_skipgram_on_sentences
from speechbrain_align.utils.files import already_prepared, mark_prepared, write_json

__all__ = [
    "clustering_purity",
    "kmeans_plusplus",
    "kmeans_units",
    "load_segment_vectors",
    "read_assignment",
    "reduce_features",
    "run_unit_skipgram",
    "segment_logmel_features",
    "skipgram",
    "train_unit_skipgram",
    "unit_majority",
    "unit_name",
    "unit_sentences",
    "write_assignment",
    "write_unit_table",
]

logger = logging.getLogger(__name__)


def unit_name(index):
    """The word used for unit ``index`` in vector files.

    Example
    -------
    >>> unit_name(17)
    'u0017'
    """
    return f"u{int(index):04d}"


# ---------------------------------------------------------------------------
# Skip-gram over unit sequences
# ---------------------------------------------------------------------------


def unit_sentences(rows, assignment):
    """Sequences of unit names, one per utterance, in word order.

    Segments absent from ``assignment`` are dropped (the remaining units of
    the utterance stay in order).

    Example
    -------
    >>> rows = [{"ID": "b", "utt_id": "u", "position": 1},
    ...         {"ID": "a", "utt_id": "u", "position": 0}]
    >>> unit_sentences(rows, {"a": "u0003", "b": "u0001"})
    [['u0003', 'u0001']]
    """
    sentences = []
    for utt_rows in group_by_utterance(rows).values():
        units = [assignment[r["ID"]] for r in utt_rows if r["ID"] in assignment]
        if units:
            sentences.append(units)
    return sentences


def skipgram(sentences, dim=50, window=5, min_count=1, epochs=10, workers=1, seed=0,
             sample=1e-3, runs=1):
    """Skip-gram (word2vec sg=1) vectors with counts for unit-id sequences.

    :func:`speechbrain_align.text.skipgram.train_skipgram_on_sentences` with
    defaults suited to units (every unit kept, more epochs, one worker so a
    rerun is bit-exact). ``sample`` is word2vec's down-sampling threshold of
    frequent tokens; with few distinct units (small ``K``) every unit is
    "frequent", so use a lower value or 0 there. ``runs`` > 1 averages that
    many models (successive seeds).

    Example
    -------
    >>> emb = skipgram([["a", "b", "a"], ["b", "c"]] * 5, dim=4, epochs=1)
    >>> sorted(emb.words), emb.dim, int(emb.counts[emb.index["a"]])
    (['a', 'b', 'c'], 4, 10)
    """
    return train_skipgram_on_sentences(
        sentences, dim=dim, window=window, min_count=min_count, epochs=epochs,
        workers=workers, seed=seed, sample=sample, runs=runs, source="unit sentences",
    )


def train_unit_skipgram(
    rows,
    features,
    n_units,
    dim=50,
    window=5,
    epochs=10,
    min_count=1,
    sample=1e-3,
    pca_dim=None,
    whiten=False,
    niter=20,
    nredo=1,
    init="kmeans++",
    init_points=None,
    init_trials=None,
    workers=1,
    seed=0,
    soft_copies=0,
    soft_candidates=10,
    soft_temperature=0.2,
    merge=None,
    runs=1,
):
    """Quantise segments into units with k-means, then skip-gram over unit ids.

    Arguments
    ---------
    rows : list of dict
        Manifest rows (``ID``, ``utt_id``, ``position``), one per row of
        ``features``.
    features : array (len(rows), d)
        One fixed-size acoustic vector per segment.
    n_units : int
        Number of k-means units ``K``.
    dim, window, epochs, min_count, sample, workers : skip-gram options
        (see :func:`skipgram`).
    pca_dim, whiten : see :func:`reduce_features`.
    niter, nredo, init, init_points, init_trials : k-means iterations, restarts,
        seeding, the k-means++ sample and candidates (see :func:`kmeans_units`).
    seed : int
        Seeds both k-means and the skip-gram.
    soft_copies, soft_candidates, soft_temperature
        Extra corpus copies whose units are sampled among each segment's
        nearest centroids (:mod:`speechbrain_align.speech.soft_units`);
        0 copies = hard units only. Counts stay those of the hard units.
    merge : dict, optional
        Merge the k-means units into word-like types without word labels
        (:func:`speechbrain_align.speech.unit_merge.merge_units` with these
        settings, ``{}`` = its defaults; the rows need ``spk_id``); each merge
        round trains this skip-gram on the current types. ``None``: no merge.
    runs : int
        Skip-gram models averaged for the returned unit vectors (successive
        seeds, :func:`speechbrain_align.text.skipgram.average_runs`); the
        merge's context vectors come from one model.

    Returns
    -------
    (Embeddings, dict) : unit vectors (words ``u0017``, counts = segments
    in the unit) and the assignment ``segment ID -> unit name`` in row order.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> rows = [{"ID": f"u{i}_{p}", "utt_id": f"u{i}", "position": p}
    ...         for i in range(30) for p in range(4)]
    >>> feats = np.stack([rng.normal(5 * (r["position"] % 2), 0.1, 3) for r in rows])
    >>> emb, assign = train_unit_skipgram(rows, feats, 2, dim=4, epochs=1)
    >>> len(emb), len(set(assign[r["ID"]] for r in rows if r["position"] % 2))
    (2, 1)
    """
    features = np.asarray(features, dtype=np.float32)
    if len(features) != len(rows):
        raise ValueError(f"{len(rows)} rows but {len(features)} feature vectors")
    reduced = reduce_features(features, pca_dim=pca_dim, whiten=whiten)
    labels, centroids = kmeans_units(reduced, n_units, niter=niter, nredo=nredo, init=init,
                                     seed=seed, init_points=init_points,
                                     init_trials=init_trials)
    n_used = len(set(labels.tolist()))
    if n_used < n_units:
        logger.warning("k-means: %d of %d units received no segment", n_units - n_used, n_units)
    train = functools.partial(skipgram, dim=dim, window=window, min_count=min_count,
                              epochs=epochs, workers=workers, seed=seed, sample=sample)
    if merge is not None:
        _check_merge(merge, soft_copies)
        labels = _merged(rows, labels, features, train, merge)
    assignment = {row["ID"]: unit_name(lab) for row, lab in zip(rows, labels)}
    sentences = unit_sentences(rows, assignment)
    train = functools.partial(train, runs=runs)
    if soft_copies:
        from speechbrain_align.speech.soft_units import sample_soft_labels

        for soft in sample_soft_labels(reduced, centroids, soft_copies, soft_candidates,
                                       soft_temperature, seed=seed):
            sentences += unit_sentences(rows, {r["ID"]: unit_name(u) for r, u in zip(rows, soft)})
    emb = train(sentences)
    if soft_copies:  # counts = segments per hard unit, as without copies
        hard = collections.Counter(assignment.values())
        emb = Embeddings(emb.words, emb.vectors, [hard.get(w, 0) for w in emb.words])
    return emb, assignment


def _check_merge(merge, soft_copies):
    """One clear error for a bad ``merge`` option, before any work."""
    from speechbrain_align.speech.unit_merge import check_settings
    from speechbrain_align.utils.errors import HparamsError

    if merge is None:
        return
    check_settings(merge)
    if soft_copies:
        raise HparamsError("merge and soft_copies: use one of them (soft_copies: 0 with merge)")


def _merged(rows, labels, features, train, settings):
    """The segments' merged types (:func:`.unit_merge.merge_units`; context vectors =
    ``train`` on the segments renamed by their current type)."""
    from speechbrain_align.speech.unit_merge import merge_units

    missing = [r["ID"] for r in rows if not r.get("spk_id")]
    if missing:
        raise ValueError(f"merge needs the speaker of every segment; {len(missing)} rows "
                         f"have no spk_id (first: {missing[0]})")

    def context(groups):
        emb = train(unit_sentences(rows, {r["ID"]: unit_name(g) for r, g in zip(rows, groups)}))
        out = np.zeros((groups.max() + 1, emb.dim))  # a type under min_count: no context
        for g in range(len(out)):
            if unit_name(g) in emb.index:
                out[g] = emb.vectors[emb.index[unit_name(g)]]
        return out

    group = merge_units(labels, features, [r["spk_id"] for r in rows], context, **dict(settings))
    logger.info("label-free merge: %d units -> %d types", len(group), group.max() + 1)
    return group[labels]


# ---------------------------------------------------------------------------
# The whole step, with SpeechBrain's skip pattern
# ---------------------------------------------------------------------------


def _file_stamp(path):
    """Absolute path, size and modification time: a changed input redoes the work."""
    path = os.path.abspath(path)
    try:
        stat = os.stat(path)
    except OSError as err:
        raise ManifestError(f"{path}: cannot read ({err})") from err
    return [path, stat.st_size, stat.st_mtime_ns]


# keyword options of train_unit_skipgram that run_unit_skipgram passes on (and
# records in its skip-if-done stamp), with their defaults
_TRAIN_OPTIONS = {
    name: param.default
    for name, param in inspect.signature(train_unit_skipgram).parameters.items()
    if param.default is not inspect.Parameter.empty and name != "workers"
}


def run_unit_skipgram(
    manifest,
    output_folder,
    feature_source="logmel",
    n_units=1000,
    feature_workers=2,
    skipgram_workers=1,
    on_missing="error",
    progress=True,
    merge_units=None,
    **options,
):
    """Run the unit skip-gram on a manifest and write its outputs.

    ``feature_source`` is ``"logmel"`` (log-Mel images, cached in
    ``<output_folder>/logmel_features.npy``) or the path of a segment-vector
    file (``.vec``/``.npz`` with segment IDs as words). Does nothing when the
    outputs exist and were made with the same options and unchanged inputs
    (path, size and modification time of the manifest and feature file).

    Outputs in ``output_folder``: ``units.vec`` (+ ``units.vec.counts.tsv``),
    ``assignment.csv`` (``ID,unit``), ``unit_table.csv`` (majority word and
    purity per unit, for evaluation) and ``summary.json`` (purity, units,
    word types covered). Returns a dict of these paths.

    ``options`` are the k-means and skip-gram keywords of
    :func:`train_unit_skipgram` (``dim``, ``window``, ``epochs``,
    ``min_count``, ``sample``, ``pca_dim``, ``whiten``, ``niter``, ``nredo``,
    ``init``, ``seed``, ``merge`` ...), with its defaults. ``merge_units``
    (the recipe's switch): ``False`` ignores the ``merge`` settings, ``True``
    applies them, ``None`` leaves ``merge`` as given.
    """
    from speechbrain_align.dataio.manifest import read_segment_manifest

    unknown = sorted(set(options) - set(_TRAIN_OPTIONS))
    if unknown:
        raise TypeError(f"run_unit_skipgram: unknown option(s) {', '.join(unknown)}")
    options = {**_TRAIN_OPTIONS, **options}
    if merge_units is not None:  # the recipe's switch; ``merge`` then holds the settings
        options["merge"] = options["merge"] if merge_units else None
    _check_merge(options["merge"], options["soft_copies"])

    os.makedirs(output_folder, exist_ok=True)
    paths = {
        "vectors": os.path.join(output_folder, "units.vec"),
        "assignment": os.path.join(output_folder, "assignment.csv"),
        "unit_table": os.path.join(output_folder, "unit_table.csv"),
        "summary": os.path.join(output_folder, "summary.json"),
    }
    stamp = {
        "manifest": _file_stamp(manifest),
        "feature_source": feature_source if feature_source == "logmel" else _file_stamp(feature_source),
        "n_units": n_units, **options,
    }
    outputs = list(paths.values())
    if already_prepared(outputs, stamp):
        logger.info("Unit skip-gram outputs in %s are up to date, skipping", output_folder)
        return paths
    rows = read_segment_manifest(manifest)
    if feature_source == "logmel":
        feats = segment_logmel_features(
            rows, cache_path=os.path.join(output_folder, "logmel_features.npy"),
            workers=feature_workers, progress=progress,
        )
    else:
        rows, feats = load_segment_vectors(feature_source, rows, on_missing=on_missing)
    emb, assignment = train_unit_skipgram(
        rows, feats, n_units, workers=skipgram_workers, **options
    )
    save_embeddings(emb, paths["vectors"])
    write_assignment(paths["assignment"], assignment)
    write_unit_table(paths["unit_table"], rows, assignment, emb)
    summary = clustering_purity(rows, assignment)
    summary.update({"n_units_requested": n_units, "n_unit_vectors": len(emb)})
    write_json(paths["summary"], summary)
    mark_prepared(outputs, stamp)
    logger.info(
        "Unit skip-gram: %d units with vectors, purity %.3f, %d word types covered",
        len(emb), summary["purity"] or float("nan"), summary["n_word_types_covered"],
    )
    return paths
