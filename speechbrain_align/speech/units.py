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
"""

import collections
import csv
import inspect
import io
import logging
import os

import numpy as np

from speechbrain_align.dataio.manifest import ManifestError, group_by_utterance, read_manifest_text
from speechbrain_align.dataio.vectors import Embeddings, load_embeddings, save_embeddings
from speechbrain_align.text.skipgram import train_skipgram_on_sentences
from speechbrain_align.utils.files import (
    already_prepared,
    atomic_save,
    atomic_write,
    mark_prepared,
    write_json,
)

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
# Segment features
# ---------------------------------------------------------------------------


def _logmel_chunk(args):
    """Worker: log-Mel images of a list of ``(wav, start, stop)``, one
    spectrogram per audio file (:func:`logmel_images_in_utterance`)."""
    items, image_kwargs = args
    import torch

    from speechbrain_align.dataio.audio import TARGET_SAMPLE_RATE, load_segment
    from speechbrain_align.speech.acoustic_image import logmel_images_in_utterance

    torch.set_num_threads(1)
    out = np.empty((len(items), image_kwargs.get("size", 32) ** 2), dtype=np.float32)
    by_wav = {}
    for i, (wav, start, stop) in enumerate(items):
        by_wav.setdefault(wav, []).append(i)
    for wav, indices in by_wav.items():
        spans = [(int(round(items[i][1] * TARGET_SAMPLE_RATE)),
                  int(round(items[i][2] * TARGET_SAMPLE_RATE))) for i in indices]
        out[indices] = logmel_images_in_utterance(load_segment(wav), spans, **image_kwargs)
    return out


def segment_logmel_features(
    rows, cache_path=None, workers=2, chunk_size=512, progress=True, **image_kwargs
):
    """One resized log-Mel image per manifest row, computed once and cached.

    Arguments
    ---------
    rows : list of dict
        Manifest rows (``ID``, ``wav``, ``start``, ``stop``).
    cache_path : str, optional
        ``.npy`` file holding the ``(len(rows), size*size)`` matrix. It is
        reused when it was made from the same rows (IDs, files, times, and
        the files' sizes and dates) and image options, recomputed otherwise
        (also when damaged); written atomically.
    workers : int
        Worker processes (spawned, one torch thread each); ``<= 1`` computes
        in this process.
    chunk_size : int
        Segments per task sent to a worker.
    progress : bool
        Show a tqdm bar.
    **image_kwargs
        Passed to :func:`~speechbrain_align.speech.acoustic_image.logmel_image`.

    Returns
    -------
    numpy.ndarray, float32, one row per manifest row (same order).
    """
    from speechbrain_align.dataio.audio import segments_fingerprint
    from speechbrain_align.utils.errors import DamagedFileError
    from speechbrain_align.utils.files import load_array_file

    options = {"rows": segments_fingerprint(rows), "n": len(rows), "image": image_kwargs}
    if cache_path is not None and already_prepared([cache_path], options):
        try:
            feats = load_array_file(cache_path, "log-Mel image cache")
            logger.info("Reusing log-Mel images from %s", cache_path)
            return feats
        except DamagedFileError as err:
            logger.warning("%s; recomputing", err)
    from tqdm import tqdm

    items = [(row["wav"], row["start"], row["stop"]) for row in rows]
    chunks = [
        (items[i : i + chunk_size], image_kwargs) for i in range(0, len(items), chunk_size)
    ]
    parts = []
    bar = tqdm(total=len(items), desc="log-Mel images", disable=not progress)
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            parts.append(_logmel_chunk(chunk))
            bar.update(len(chunk[0]))
    else:
        import concurrent.futures
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            for chunk, part in zip(chunks, pool.map(_logmel_chunk, chunks)):
                parts.append(part)
                bar.update(len(chunk[0]))
    bar.close()
    if not parts:
        raise ManifestError("segment_logmel_features: no rows given")
    feats = np.concatenate(parts).astype(np.float32)
    if cache_path is not None:
        atomic_save(cache_path, lambda p: np.save(p, feats))
        mark_prepared([cache_path], options)
    return feats


def load_segment_vectors(path, rows, on_missing="error"):
    """Vectors of manifest rows from a vector file whose words are segment IDs.

    Arguments
    ---------
    path : str
        ``.vec`` or ``.npz`` (read with
        :func:`~speechbrain_align.dataio.vectors.load_embeddings`).
    rows : list of dict
        Manifest rows; their ``ID`` is looked up.
    on_missing : "error" or "skip"
        A row without a vector raises, or is dropped with a counted warning.

    Returns
    -------
    (kept_rows, features) : the rows that have a vector and their matrix.

    Example
    -------
    >>> import tempfile, os
    >>> from speechbrain_align.dataio.vectors import write_vec
    >>> p = os.path.join(tempfile.mkdtemp(), "seg.vec")
    >>> write_vec(Embeddings(["a_0000", "a_0001"], [[1, 0], [0, 1]]), p)
    >>> kept, x = load_segment_vectors(p, [{"ID": "a_0001"}, {"ID": "a_0000"}])
    >>> x.tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    emb = load_embeddings(path)
    kept, index = [], []
    missing = []
    for row in rows:
        i = emb.index.get(row["ID"])
        if i is None:
            missing.append(row["ID"])
            continue
        kept.append(row)
        index.append(i)
    if missing:
        if on_missing == "error":
            raise ManifestError(
                f"{path}: no vector for {len(missing)} of {len(rows)} segments, "
                f"e.g. {missing[0]!r}"
            )
        logger.warning("%s: %d of %d segments have no vector, skipped", path, len(missing), len(rows))
    if not kept:
        raise ManifestError(f"{path}: none of the manifest's segment IDs has a vector")
    return kept, emb.vectors[np.asarray(index, dtype=np.int64)]


def reduce_features(features, pca_dim=None, whiten=False, eps=1e-6):
    """Centre, optionally project on the top ``pca_dim`` principal axes and whiten.

    Arguments
    ---------
    features : array (n, d)
    pca_dim : int, optional
        Keep this many principal components (``None``: keep all ``d`` axes;
        with ``whiten=False`` that is plain centring).
    whiten : bool
        Scale each kept component to unit variance.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(500, 5)) * [10, 1, 1, 1, 0.1]
    >>> y = reduce_features(x, pca_dim=2, whiten=True)
    >>> y.shape, np.allclose(y.std(axis=0), 1, atol=0.01)
    ((500, 2), True)
    """
    x = np.asarray(features, dtype=np.float64)
    x = x - x.mean(axis=0, keepdims=True)
    if pca_dim is None and not whiten:
        return x.astype(np.float32)
    cov = x.T @ x / max(1, len(x) - 1)
    eigval, eigvec = np.linalg.eigh(cov)
    order = np.argsort(eigval)[::-1]
    if pca_dim is not None:
        order = order[: int(pca_dim)]
    y = x @ eigvec[:, order]
    if whiten:
        y = y / np.sqrt(np.maximum(eigval[order], 0) + eps)
    return y.astype(np.float32)


def kmeans_plusplus(features, n_units, seed=0, max_points=None, n_trials=None):
    """Greedy k-means++ initial centroids (Arthur & Vassilvitskii, 2007), numpy.

    Each new centre is drawn with probability proportional to the squared
    distance to the nearest centre already chosen; greedily, ``n_trials``
    candidates are drawn (default ``2 + ln K``) and the one that lowers the
    total squared distance most is kept. For speed the draw runs on a random
    sample of ``max_points`` rows (default ``32 * n_units``).

    Example
    -------
    >>> x = np.array([[0.0], [0.1], [10.0], [10.1]])
    >>> sorted(np.round(kmeans_plusplus(x, 2, seed=0)[:, 0]).tolist())
    [0.0, 10.0]
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(features, dtype=np.float32)
    max_points = max_points or 32 * n_units
    if len(x) > max_points:
        x = x[rng.choice(len(x), max_points, replace=False)]
    n_trials = n_trials or 2 + int(np.log(n_units))
    centres = np.empty((n_units, x.shape[1]), dtype=np.float32)
    centres[0] = x[rng.integers(len(x))]
    d2 = ((x - centres[0]) ** 2).sum(axis=1)
    sq = (x**2).sum(axis=1)
    for c in range(1, n_units):
        total = float(d2.sum())
        if total <= 0:
            picks = rng.integers(len(x), size=n_trials)
        else:
            picks = rng.choice(len(x), size=n_trials, p=d2 / total)
        cand = x[picks]  # (trials, d)
        dist = np.maximum(sq[None, :] - 2.0 * cand @ x.T + (cand**2).sum(axis=1)[:, None], 0)
        new_d2 = np.minimum(d2[None, :], dist)
        best = int(new_d2.sum(axis=1).argmin())
        centres[c] = cand[best]
        d2 = new_d2[best]
    return centres


def kmeans_units(
    features, n_units, niter=20, nredo=1, seed=0, init="kmeans++", max_points_per_centroid=256
):
    """Cluster segment vectors into ``n_units`` units with faiss k-means.

    Arguments
    ---------
    features : array (n, d)
    n_units : int
    niter : int
        Lloyd iterations (faiss).
    nredo : int
        Restarts; the run with the lowest objective is kept.
    seed : int
    init : "kmeans++" or "random"
        k-means++ seeding (:func:`kmeans_plusplus`) or faiss's random
        points; k-means++ avoids most merged clusters when units are well
        separated.
    max_points_per_centroid : int
        faiss subsamples the training set to this many points per centroid.

    Returns ``(labels, centroids)``: the unit index of every row and the
    ``(n_units, d)`` centroids. Deterministic for a given ``seed``.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(c, 0.1, size=(20, 2)) for c in (0, 5, 10)])
    >>> labels, _ = kmeans_units(x, 3)
    >>> len(set(labels[:20])), len(set(labels[20:40])), len(set(labels[40:]))
    (1, 1, 1)
    """
    import faiss

    x = np.ascontiguousarray(features, dtype=np.float32)
    if not 1 <= n_units <= len(x):
        raise ValueError(f"n_units={n_units} must be between 1 and the {len(x)} segments")
    if init not in ("kmeans++", "random"):
        raise ValueError(f"init={init!r}: use 'kmeans++' or 'random'")
    best = None
    for redo in range(int(nredo) if init == "kmeans++" else 1):
        km = faiss.Kmeans(
            x.shape[1],
            int(n_units),
            niter=int(niter),
            nredo=1 if init == "kmeans++" else int(nredo),
            seed=int(seed) + redo,
            verbose=False,
            max_points_per_centroid=int(max_points_per_centroid),
        )
        if init == "kmeans++":
            km.train(x, init_centroids=kmeans_plusplus(x, int(n_units), seed=int(seed) + redo))
        else:
            km.train(x)
        objective = float(km.obj[-1]) if len(km.obj) else 0.0
        if best is None or objective < best[0]:
            best = (objective, km)
    km = best[1]
    _, labels = km.index.search(x, 1)
    return labels[:, 0].astype(np.int64), km.centroids.copy()


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
             sample=1e-3):
    """Skip-gram (word2vec sg=1) vectors with counts for unit-id sequences.

    :func:`speechbrain_align.text.skipgram.train_skipgram_on_sentences` with
    defaults suited to units (every unit kept, more epochs, one worker so a
    rerun is bit-exact). ``sample`` is word2vec's down-sampling threshold of
    frequent tokens; with few distinct units (small ``K``) every unit is
    "frequent", so use a lower value or 0 there.

    Example
    -------
    >>> emb = skipgram([["a", "b", "a"], ["b", "c"]] * 5, dim=4, epochs=1)
    >>> sorted(emb.words), emb.dim, int(emb.counts[emb.index["a"]])
    (['a', 'b', 'c'], 4, 10)
    """
    return train_skipgram_on_sentences(
        sentences, dim=dim, window=window, min_count=min_count, epochs=epochs,
        workers=workers, seed=seed, sample=sample, source="unit sentences",
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
    workers=1,
    seed=0,
    soft_copies=0,
    soft_candidates=10,
    soft_temperature=0.2,
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
    niter, nredo, init : k-means iterations, restarts and seeding
        (see :func:`kmeans_units`).
    seed : int
        Seeds both k-means and the skip-gram.
    soft_copies, soft_candidates, soft_temperature
        Extra corpus copies whose units are sampled among each segment's
        nearest centroids (:mod:`speechbrain_align.speech.soft_units`);
        0 copies = hard units only. Counts stay those of the hard units.

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
    labels, centroids = kmeans_units(reduced, n_units, niter=niter, nredo=nredo, init=init, seed=seed)
    assignment = {row["ID"]: unit_name(lab) for row, lab in zip(rows, labels)}
    sentences = unit_sentences(rows, assignment)
    if soft_copies:
        from speechbrain_align.speech.soft_units import sample_soft_labels

        for soft in sample_soft_labels(reduced, centroids, soft_copies, soft_candidates,
                                       soft_temperature, seed=seed):
            sentences += unit_sentences(rows, {r["ID"]: unit_name(u) for r, u in zip(rows, soft)})
    emb = skipgram(
        sentences, dim=dim, window=window, min_count=min_count, epochs=epochs,
        workers=workers, seed=seed, sample=sample,
    )
    if soft_copies:  # counts = segments per hard unit, as without copies
        hard = collections.Counter(assignment.values())
        emb = Embeddings(emb.words, emb.vectors, [hard.get(w, 0) for w in emb.words])
    n_used = len(set(labels.tolist()))
    if n_used < n_units:
        logger.warning("k-means: %d of %d units received no segment", n_units - n_used, n_units)
    return emb, assignment


# ---------------------------------------------------------------------------
# Assignment and per-unit tables
# ---------------------------------------------------------------------------


def write_assignment(path, assignment):
    """Write ``segment ID -> unit`` as a CSV with header ``ID,unit``, atomically."""
    with atomic_write(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ID", "unit"])
        for seg_id, unit in assignment.items():
            writer.writerow([seg_id, unit])


def read_assignment(path):
    """Read an ``ID,unit`` CSV into a dict; errors name the file and line.

    A ``cluster`` column is accepted in place of ``unit``, so the k-means
    assignment of Speech2Vec word types
    (:func:`speechbrain_align.speech.wordtypes.write_assignment`) reads too.

    Example
    -------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.csv")
    >>> write_assignment(p, {"s_0000": "u0002", "s_0001": "u0000"})
    >>> read_assignment(p)
    {'s_0000': 'u0002', 's_0001': 'u0000'}
    """
    path = os.fspath(path)
    handle = io.StringIO(read_manifest_text(path, "assignment"), newline="")
    out = {}
    with handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        column = "unit" if "unit" in fields else "cluster"
        if "ID" not in fields or column not in fields:
            raise ManifestError(f"{path}:1: assignment needs columns 'ID' and 'unit' (or 'cluster')")
        for line_no, row in enumerate(reader, start=2):
            if not row["ID"] or not row[column]:
                raise ManifestError(f"{path}:{line_no}: empty ID or {column}")
            if row["ID"] in out:
                raise ManifestError(f"{path}:{line_no}: segment {row['ID']!r} is repeated")
            out[row["ID"]] = row[column]
    return out


def unit_majority(rows, assignment):
    """Majority word of every unit, from the segments' ``word`` labels.

    Segments with an empty word or without a unit are ignored. Ties go to
    the word seen first.

    Returns
    -------
    dict unit -> {"word", "majority", "size", "purity"} where ``size`` is
    the number of labelled segments in the unit and ``purity`` is
    ``majority / size``.

    Example
    -------
    >>> rows = [{"ID": "a", "word": "x"}, {"ID": "b", "word": "x"}, {"ID": "c", "word": "y"}]
    >>> unit_majority(rows, {"a": "u0", "b": "u0", "c": "u0"})["u0"]["word"]
    'x'
    """
    per_unit = collections.defaultdict(collections.Counter)
    for row in rows:
        unit = assignment.get(row["ID"])
        if unit is not None and row.get("word"):
            per_unit[unit][row["word"]] += 1
    table = {}
    for unit, counter in per_unit.items():
        word, majority = counter.most_common(1)[0]
        size = sum(counter.values())
        table[unit] = {"word": word, "majority": majority, "size": size, "purity": majority / size}
    return table


def clustering_purity(rows, assignment):
    """Purity, word types covered and number of clusters of an assignment.

    Purity is the share of labelled segments whose unit's majority word
    equals their own word; ``n_word_types_covered`` is the number of distinct
    majority words; ``n_clusters`` the number of units holding a labelled
    segment.

    Example
    -------
    >>> rows = [{"ID": str(i), "word": w} for i, w in enumerate("aabbc")]
    >>> clustering_purity(rows, {"0": "u0", "1": "u0", "2": "u1", "3": "u1", "4": "u1"})
    {'purity': 0.8, 'n_word_types_covered': 2, 'n_clusters': 2, 'n_segments': 5}
    """
    table = unit_majority(rows, assignment)
    total = sum(t["size"] for t in table.values())
    correct = sum(t["majority"] for t in table.values())
    return {
        "purity": correct / total if total else None,
        "n_word_types_covered": len({t["word"] for t in table.values()}),
        "n_clusters": len(table),
        "n_segments": total,
    }


def write_unit_table(path, rows, assignment, emb=None):
    """CSV ``unit,size,majority_word,majority_count,purity`` (+ ``in_vectors``), atomically."""
    table = unit_majority(rows, assignment)
    with atomic_write(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["unit", "size", "majority_word", "majority_count", "purity", "in_vectors"])
        for unit in sorted(table):
            t = table[unit]
            in_vectors = "" if emb is None else int(unit in emb.index)
            writer.writerow(
                [unit, t["size"], t["word"], t["majority"], f"{t['purity']:.4f}", in_vectors]
            )


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
    ``init``, ``seed``), with its defaults.
    """
    from speechbrain_align.dataio.manifest import read_segment_manifest

    unknown = sorted(set(options) - set(_TRAIN_OPTIONS))
    if unknown:
        raise TypeError(f"run_unit_skipgram: unknown option(s) {', '.join(unknown)}")
    options = {**_TRAIN_OPTIONS, **options}

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
