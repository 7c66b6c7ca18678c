"""Stages of the paper's experiment that are not recipes of their own.

``recipes/Bible/experiment/run_experiment.py`` sequences the recipes
(corpus, Speech2Vec, units, classifier) and calls these functions for the
rest: text vectors and dictionaries, building the speech spaces of every
configuration and the inference export (the alignment grid is
``recipes/Bible/experiment/alignment_grid.py``; the tables, plots and
diagnostics in :mod:`~speechbrain_align.evaluation.experiment_report`).

Rows of the tables (configurations) and columns (conditions):

=============  ===========================================================
A*             Speech2Vec types by word label, supervised Procrustes on the
               label dictionary (the paper's upper bound for mapping)
A              the same types, unsupervised mapping + refinement
B              k-means clusters of Speech2Vec segment vectors
F              Speech2Vec trained on equal-size chunks, types by label
units          unit skip-gram (k-means units of log-Mel images, skip-gram)
T              oracle: skip-gram on the training transcripts (perfect ASR)
classifier     supervised BiLSTM word classifier (classification only)
=============  ===========================================================

Conditions: ``same`` (text = the part of the WEB Bible not spoken),
``cross`` (text = King James Bible), ``es`` (Reina-Valera 1909, translation).
"""

import contextlib
import csv
import dataclasses
import logging
import os
import threading
import time

import numpy as np

from speechbrain_align.dataio.dictionaries import (
    freedict_to_muse,
    pivot_synonyms,
    read_muse_dictionary,
)
from speechbrain_align.dataio.manifest import read_segment_manifest, write_segment_manifest
from speechbrain_align.dataio.segmentation import equal_chunks
from speechbrain_align.dataio.vectors import load_embeddings, save_embeddings
from speechbrain_align.evaluation.crossmodal import cluster_space, label_space
from speechbrain_align.speech.clustering import reduce_features
from speechbrain_align.speech.units import read_assignment
from speechbrain_align.speech.wordtypes import (
    average_by_label,
    kmeans_types,
    write_assignment,
)
from speechbrain_align.utils.files import (
    already_prepared,
    atomic_write,
    mark_prepared,
    sha256_file,
    write_json,
)

logger = logging.getLogger(__name__)

TEXT_CORPORA = {"same": "web_text.txt", "cross": "kjv.txt", "es": "rv1909.txt"}


class StageTimer:
    """Times named stages, prints them and keeps them in a JSON file.

    Stages may run side by side (from several threads): the file also keeps
    ``wall_clock``, the seconds since the timer was made.

    Example
    -------
    >>> import tempfile, json
    >>> timer = StageTimer(os.path.join(tempfile.mkdtemp(), "timings.json"))
    >>> with timer("a"):
    ...     pass
    >>> sorted(json.load(open(timer.path)))
    ['a', 'wall_clock']
    """

    def __init__(self, path):
        self.path = path
        self.times = {}
        self.start = time.time()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def __call__(self, name):
        """Time the body as stage ``name``."""
        logger.info("=== stage: %s", name)
        start = time.time()
        yield
        with self._lock:
            self.times[name] = round(time.time() - start, 1)
            write_json(self.path, dict(self.times, wall_clock=self.wall_clock()))
        logger.info("=== stage %s done in %.1f s", name, self.times[name])

    def wall_clock(self):
        """Seconds since the timer was made."""
        return round(time.time() - self.start, 1)

    def report(self):
        """Print the stage times, their sum and the wall clock."""
        for name, secs in self.times.items():
            print(f"{name:32s} {secs:8.1f} s")
        print(f"{'sum of the stages':32s} {sum(self.times.values()):8.1f} s")
        print(f"{'wall clock':32s} {self.wall_clock():8.1f} s")


def corpus_paths(data_folder):
    """Where ``bible_prepare.py`` puts manifests and text corpora."""
    speech, text = os.path.join(data_folder, "speech"), os.path.join(data_folder, "text")
    paths = {f"{split}_csv": os.path.join(speech, f"{split}.csv") for split in ("train", "valid", "test")}
    paths.update({cond: os.path.join(text, name) for cond, name in TEXT_CORPORA.items()})
    return paths


def dictionaries(out, texts):
    """English-Spanish dictionary (FreeDict, from Debian) and pivot synonyms.

    Returns ``{"en_es": pairs, "synonyms": {word: set}}``.
    """
    path = os.path.join(out, "dictionaries", "en-es.txt")
    if os.path.exists(path):
        pairs = read_muse_dictionary(path)
    else:
        pairs = freedict_to_muse(path)
    synonyms = pivot_synonyms(pairs, vocab=set(texts["same"].words))
    return {"en_es": pairs, "synonyms": synonyms}


def equal_chunk_manifest(test_csv, folder):
    """The test manifest re-segmented into equal chunks (config F's test queries)."""
    path = os.path.join(folder, "test_chunks.csv")
    stamp = {"test_csv": test_csv, "size": os.path.getsize(test_csv)}
    if not already_prepared([path], stamp):
        write_segment_manifest(equal_chunks(read_segment_manifest(test_csv), test_csv), path)
        mark_prepared([path], stamp)
    return path


def _copy_manifest_rows(sources, path, keep, stamp):
    """Write the rows of ``sources`` (CSV manifests, same header) for which
    ``keep(row)`` holds to ``path``, unless already done with ``stamp``."""
    if already_prepared([path], stamp):
        return path
    with atomic_write(path, newline="") as out_f:
        writer = None
        for source in sources:
            with open(source, encoding="utf-8", newline="") as in_f:
                reader = csv.DictReader(in_f)
                if writer is None:
                    writer = csv.DictWriter(out_f, fieldnames=reader.fieldnames)
                    writer.writeheader()
                writer.writerows(row for row in reader if keep(row))
    mark_prepared([path], stamp)
    return path


def spoken_manifest(paths, folder):
    """Every spoken segment (train, valid and test speakers) in one manifest.

    Speech representations learn from all spoken audio without labels
    (transductive, as unsupervised clustering of a whole audio collection);
    word labels are read only from the train speakers' rows, and the test
    speakers' labels only for scoring.
    """
    sources = [paths[k] for k in ("train_csv", "valid_csv", "test_csv")]
    stamp = {s: os.path.getsize(s) for s in sources}
    return _copy_manifest_rows(sources, os.path.join(folder, "all.csv"), lambda row: True, stamp)


def utterance_subset(manifest, n_tokens, seed, path, speakers=None):
    """A manifest of whole utterances drawn at random until ``n_tokens`` segments.

    ``speakers`` (a set of speaker ids) restricts the draw. Used where the
    CPU budget cannot train on every utterance (the README documents it);
    ``n_tokens=None`` keeps every utterance.
    """
    rows = read_segment_manifest(manifest)
    sizes = {}
    for row in rows:
        if speakers is None or row["spk_id"] in speakers:
            sizes[row["utt_id"]] = sizes.get(row["utt_id"], 0) + 1
    order = sorted(sizes)
    np.random.RandomState(seed).shuffle(order)
    chosen, total = set(), 0
    for utt in order:
        if n_tokens is not None and total >= n_tokens:
            break
        chosen.add(utt)
        total += sizes[utt]
    stamp = {"manifest": manifest, "size": os.path.getsize(manifest), "n_tokens": n_tokens,
             "seed": seed, "speakers": sorted(speakers) if speakers else None}
    return _copy_manifest_rows([manifest], path, lambda row: row["utt_id"] in chosen, stamp)


def speech2vec_clusters(out, hp):
    """Config B's k-means of every Speech2Vec segment vector, into ``<out>/spaces``.

    Returns the paths of ``B_types.npz`` and ``B_assignment.csv``. Done once
    for a given segment file, ``kmeans_clusters`` and ``seed`` (a rerun, or
    :func:`speech_spaces` after the experiment's lane ran it, reuses it).
    """
    segments = os.path.join(out, "speech2vec_words", "vectors", "all_segments.npz")
    return segment_clusters(segments, os.path.join(out, "spaces"), "B", hp["kmeans_clusters"],
                            hp["seed"])


def segment_clusters(segments, folder, name, n_clusters, seed, pca_dim=None):
    """k-means of every vector of a segment file, averaged per cluster (config B's types).

    ``pca_dim``: cluster and average the vectors projected on their top principal axes
    (the text vectors' dimension, which the linear maps need). Writes
    ``<folder>/<name>_types.npz`` and ``<name>_assignment.csv`` and returns their paths;
    done once for a given segment file (content), ``n_clusters``, ``seed`` and ``pca_dim``.
    """
    outputs = [os.path.join(folder, f"{name}_types.npz"),
               os.path.join(folder, f"{name}_assignment.csv")]
    options = {"segments": sha256_file(segments), "clusters": n_clusters, "seed": seed}
    if pca_dim is not None:
        options["pca_dim"] = pca_dim
    if not already_prepared(outputs, options):
        os.makedirs(folder, exist_ok=True)
        segs = load_embeddings(segments)
        vectors = segs.vectors
        if pca_dim is not None and pca_dim < vectors.shape[1]:
            vectors = reduce_features(vectors, pca_dim=pca_dim)
        clusters, assignment = kmeans_types(vectors, n_clusters, seed=seed)
        save_embeddings(clusters, outputs[0])
        write_assignment(outputs[1], segs.words, assignment)
        mark_prepared(outputs, options)
    return outputs


def speech_spaces(paths, out, hp):
    """The speech spaces of configs A, B, F, units and the oracle T (and B_awe, config B's
    clusters of the acoustic word embeddings, when ``hp["awe_clusters"]`` is set).

    Speech2Vec and the units learned from every spoken segment without
    labels; A averages the train speakers' segment vectors by word label, B
    clusters every segment vector with k-means; majority labels of clusters
    and units come from the train speakers' segments; the test speakers'
    segments are the queries.
    """
    train_rows = read_segment_manifest(paths["train_csv"])
    test_rows = read_segment_manifest(paths["test_csv"])
    min_count = hp["type_min_count"]
    words = os.path.join(out, "speech2vec_words", "vectors")
    segs = load_embeddings(os.path.join(words, "all_segments.npz"))
    spaces = {}
    labelled = [(segs.index[r["ID"]], r["word"]) for r in train_rows if r["ID"] in segs.index]
    types = average_by_label(segs.vectors[[i for i, _ in labelled]], [w for _, w in labelled],
                             source="Speech2Vec train-speaker segments")
    test_segs = segs.subset([segs.index[r["ID"]] for r in test_rows if r["ID"] in segs.index])
    spaces["A"] = label_space("A", types, test_segs, test_rows, min_count)
    folder = os.path.join(out, "spaces")
    save_embeddings(types, os.path.join(folder, "A_types.npz"))

    types_path, assignment_path = speech2vec_clusters(out, hp)
    assign = read_assignment(assignment_path)
    spaces["B"] = cluster_space("B", load_embeddings(types_path), assign, train_rows, assign,
                                test_rows)

    chunks = os.path.join(out, "speech2vec_chunks", "vectors")
    chunk_rows = read_segment_manifest(os.path.join(out, "chunks", "test_chunks.csv"))
    spaces["F"] = label_space(
        "F", load_embeddings(os.path.join(chunks, "types_label.npz")),
        load_embeddings(os.path.join(chunks, "test_chunks_segments.npz")), chunk_rows, min_count,
    )
    if hp.get("awe_clusters"):  # config B on the acoustic word embeddings
        types_path, assignment_path = segment_clusters(
            os.path.join(out, "awe", "segments.npz"), folder, "B_awe", hp["awe_clusters"],
            hp["seed"], pca_dim=hp["skipgram"]["dim"])
        assign = read_assignment(assignment_path)
        spaces["B_awe"] = cluster_space("B_awe", load_embeddings(types_path), assign,
                                        train_rows, assign, test_rows)
    units = load_embeddings(os.path.join(out, "units", "units", "units.vec"))
    unit_assign = read_assignment(os.path.join(out, "units", "units", "assignment.csv"))
    spaces["units"] = cluster_space("units", units, unit_assign, train_rows, unit_assign, test_rows)
    types = transcript_types(paths, folder, hp["skipgram"], hp["seed"])
    spaces["T"] = transcript_space(types, test_rows)
    save_embeddings(spaces["T"].types, os.path.join(folder, "T.vec"))
    for name, space in spaces.items():
        logger.info(
            "speech space %s: %d types, %d labelled, %d test items",
            name, len(space.types), len(space.labels), len(space.test_items),
        )
    return spaces


def transcript_types(paths, folder, skipgram, seed=0):
    """Oracle row T's vectors: skip-gram on the transcripts of every spoken utterance.

    What a perfect speech recogniser would give on the same spoken corpus
    (the ceiling of every speech row): it separates the difficulty of the
    corpus size from that of the speech vectors. Writes ``<folder>/T_types.npz``
    (exact float32) and returns the types; done once for given manifests,
    settings and seed (the experiment trains them in a lane, and
    :func:`speech_spaces` then reuses them).
    """
    from speechbrain_align.dataio.manifest import group_by_utterance
    from speechbrain_align.text.skipgram import train_skipgram_on_sentences

    keys = ("train_csv", "valid_csv", "test_csv")
    output = os.path.join(folder, "T_types.npz")
    options = {"manifests": [sha256_file(paths[k]) for k in keys], "skipgram": dict(skipgram),
               "seed": seed}
    if already_prepared([output], options):
        return load_embeddings(output)
    sentences = []
    for key in keys:
        rows = read_segment_manifest(paths[key])
        sentences += [[r["word"] for r in utt] for utt in group_by_utterance(rows).values()]
    types = train_skipgram_on_sentences(sentences, **dict(skipgram, workers=1, seed=seed),
                                        source="spoken transcripts")
    os.makedirs(folder, exist_ok=True)
    save_embeddings(types, output)
    mark_prepared([output], options)
    return types


def transcript_space(types, test_rows):
    """Oracle row T from :func:`transcript_types`: a test segment queries with the vector
    of its own (known) word."""
    items = [(r["word"], r["word"]) for r in test_rows]  # unknown words count as skipped
    return dataclasses.replace(label_space("T", types, None, []), test_queries=types, test_items=items)


def export_inference_space(out, spaces, texts, row="supervised"):
    """Write the aligned space of config A for :class:`AlignedSpace` (inference).

    Uses the Speech2Vec recipe's own run (its hyperparams.yaml and best
    checkpoint) and the mappings of config A trained with ``row``
    ("supervised" = A*, or "adversarial", "vecmap") to the same-language and
    Spanish text spaces.
    """
    from speechbrain_align.alignment.mappings import load_mapping
    from speechbrain_align.inference.export import export_speech2vec_space

    folder = os.path.join(out, "aligned_space")
    mapping = os.path.join(out, "alignment", "A_{}_" + row, "mapping.npy")
    export_speech2vec_space(
        folder, os.path.join(out, "speech2vec_words"), spaces["A"].types,
        load_mapping(mapping.format("same")), texts["same"],
        foreign_vectors=texts["es"], foreign_mapping=load_mapping(mapping.format("es")),
        language="en", foreign_language="es",
    )
    return folder
