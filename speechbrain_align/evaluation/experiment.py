"""Stages of the paper's experiment that are not recipes of their own.

``recipes/Bible/experiment/run_experiment.py`` sequences the recipes
(corpus, Speech2Vec, units, classifier) and calls these functions for the
rest: text vectors and dictionaries, building the speech spaces of every
configuration, the alignment grid, the results tables and the plots.

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
import dataclasses
import json
import logging
import os
import time

import numpy as np

from speechbrain_align.alignment.pipeline import align, save_mapping
from speechbrain_align.dataio.dictionaries import (
    freedict_to_muse,
    pivot_synonyms,
    read_muse_dictionary,
    split_dictionary,
)
from speechbrain_align.dataio.manifest import read_segment_manifest, write_segment_manifest
from speechbrain_align.dataio.segmentation import equal_chunks
from speechbrain_align.dataio.vectors import Embeddings, load_embeddings, save_embeddings
from speechbrain_align.evaluation.crossmodal import cluster_space, evaluate_space, label_space
from speechbrain_align.evaluation.tables import results_to_markdown
from speechbrain_align.retrieval.search import knn
from speechbrain_align.speech.units import read_assignment
from speechbrain_align.text.skipgram import train_skipgram
from speechbrain_align.utils.files import already_prepared, atomic_write, mark_prepared, write_json

logger = logging.getLogger(__name__)

TEXT_CORPORA = {"same": "web_text.txt", "cross": "kjv.txt", "es": "rv1909.txt"}


class StageTimer:
    """Times named stages, prints them and keeps them in a JSON file."""

    def __init__(self, path):
        self.path = path
        self.times = {}

    @contextlib.contextmanager
    def __call__(self, name):
        """Time the body as stage ``name``."""
        logger.info("=== stage: %s", name)
        start = time.time()
        yield
        self.times[name] = round(time.time() - start, 1)
        write_json(self.path, self.times)
        logger.info("=== stage %s done in %.1f s", name, self.times[name])

    def report(self):
        """Print the stage times and their total."""
        total = sum(self.times.values())
        for name, secs in self.times.items():
            print(f"{name:32s} {secs:8.1f} s")
        print(f"{'total':32s} {total:8.1f} s")


def corpus_paths(data_folder):
    """Where ``bible_prepare.py`` puts manifests and text corpora."""
    speech, text = os.path.join(data_folder, "speech"), os.path.join(data_folder, "text")
    paths = {f"{split}_csv": os.path.join(speech, f"{split}.csv") for split in ("train", "valid", "test")}
    paths.update({cond: os.path.join(text, name) for cond, name in TEXT_CORPORA.items()})
    return paths


def text_vectors(paths, out, hp):
    """Skip-gram vectors for the three text corpora; returns {condition: Embeddings}."""
    opts = {k: hp[f"text_{k}"] for k in ("dim", "window", "min_count", "epochs", "workers")}
    opts["seed"] = hp["seed"]
    texts = {}
    for cond in TEXT_CORPORA:
        vec = os.path.join(out, "text_vectors", f"{cond}.vec")
        stamp = dict(opts, corpus=paths[cond], size=os.path.getsize(paths[cond]))
        if already_prepared([vec], stamp):
            texts[cond] = load_embeddings(vec)
        else:
            texts[cond] = train_skipgram(
                paths[cond], dim=opts["dim"], window=opts["window"], min_count=opts["min_count"],
                epochs=opts["epochs"], workers=opts["workers"], seed=opts["seed"],
            )
            save_embeddings(texts[cond], vec)
            mark_prepared([vec], stamp)
        logger.info("text vectors %s: %d words", cond, len(texts[cond]))
    return texts


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


def units_manifest(paths, folder):
    """Train and test segments in one manifest for the unit skip-gram.

    Units are learned without labels over all segments (transductive, as
    unsupervised clustering of the whole audio collection); the test labels
    are used for scoring only.
    """
    path = os.path.join(folder, "train_test.csv")
    stamp = {k: os.path.getsize(paths[k]) for k in ("train_csv", "test_csv")}
    if not already_prepared([path], stamp):
        with atomic_write(path, newline="") as out_f:
            for i, key in enumerate(("train_csv", "test_csv")):
                with open(paths[key], encoding="utf-8") as in_f:
                    lines = in_f.readlines()
                out_f.writelines(lines if i == 0 else lines[1:])
        mark_prepared([path], stamp)
    return path


def _nearest(queries, keys):
    """Index of the nearest key (Euclidean) for each query row."""
    q = np.asarray(queries, dtype=np.float32)
    k = np.asarray(keys, dtype=np.float32)
    aug_q = np.hstack([q, np.ones((len(q), 1), np.float32)])
    aug_k = np.hstack([2 * k, -(k * k).sum(axis=1, keepdims=True)])
    return knn(aug_q, aug_k, 1)[1][:, 0]


def speech_spaces(paths, out, min_count):
    """The speech spaces of configs A, B, F and units from the recipes' outputs."""
    train_rows = read_segment_manifest(paths["train_csv"])
    test_rows = read_segment_manifest(paths["test_csv"])
    words = os.path.join(out, "speech2vec_words", "vectors")
    spaces = {}
    test_segs = load_embeddings(os.path.join(words, "test_segments.npz"))
    spaces["A"] = label_space(
        "A", load_embeddings(os.path.join(words, "types_label.npz")), test_segs, test_rows, min_count
    )
    clusters = load_embeddings(os.path.join(words, "types_kmeans.npz"))
    train_assign = read_assignment(os.path.join(words, "kmeans_assignment.csv"))
    nearest = _nearest(test_segs.vectors, clusters.vectors)
    test_assign = {sid: clusters.words[i] for sid, i in zip(test_segs.words, nearest)}
    spaces["B"] = cluster_space("B", clusters, train_assign, train_rows, test_assign, test_rows)

    chunks = os.path.join(out, "speech2vec_chunks", "vectors")
    chunk_rows = read_segment_manifest(os.path.join(out, "chunks", "test_chunks.csv"))
    spaces["F"] = label_space(
        "F", load_embeddings(os.path.join(chunks, "types_label.npz")),
        load_embeddings(os.path.join(chunks, "test_chunks_segments.npz")), chunk_rows, min_count,
    )
    units = load_embeddings(os.path.join(out, "units", "units", "units.vec"))
    unit_assign = read_assignment(os.path.join(out, "units", "units", "assignment.csv"))
    train_ids = {r["ID"] for r in train_rows}
    spaces["units"] = cluster_space(
        "units", units, {k: v for k, v in unit_assign.items() if k in train_ids}, train_rows,
        {k: v for k, v in unit_assign.items() if k not in train_ids}, test_rows,
    )
    spaces["T"] = transcript_space(train_rows, test_rows, min_count)
    for name, space in spaces.items():
        logger.info(
            "speech space %s: %d types, %d labelled, %d test items",
            name, len(space.types), len(space.labels), len(space.test_items),
        )
    return spaces


def transcript_space(train_rows, test_rows, min_count, dim=50, seed=0):
    """Oracle row T: skip-gram on the training utterances' transcripts.

    What a perfect speech recogniser would give on the same (small) spoken
    corpus: it shows how much of the alignment's difficulty comes from the
    corpus size rather than from the speech vectors. A test segment queries
    with the vector of its own (known) word.
    """
    from speechbrain_align.dataio.manifest import group_by_utterance
    from speechbrain_align.text.skipgram import train_skipgram_on_sentences

    sentences = [[r["word"] for r in utt] for utt in group_by_utterance(train_rows).values()]
    types = train_skipgram_on_sentences(
        sentences, dim=dim, window=5, min_count=min_count, epochs=20, workers=1, seed=seed
    )
    items = [(r["word"], r["word"]) for r in test_rows]  # unknown words count as skipped
    return dataclasses.replace(label_space("T", types, None, []), test_queries=types, test_items=items)


def _capped(hp, space, text):
    """Alignment settings with frequency cuts capped by the vocabularies."""
    hp = dict(hp)
    smallest = min(len(space.types), len(text))
    for key in ("max_rank", "dico_max_rank", "criterion_words", "init_vocab", "vocab_cutoff"):
        if key in hp:
            hp[key] = min(hp[key], smallest)
    return hp


def _metrics(task_result):
    """Keep the numbers of a task result that the tables show."""
    keep = ("n_items", "n_scored", "n_skipped", "skipped_no_query", "skipped_no_gold")
    out = {k: task_result[k] for k in keep if k in task_result}
    out.update({k: v for k, v in task_result.items() if "_P@" in k or k.startswith("n_top")
                or k.startswith("n_ranks")})
    return out


def align_all(spaces, texts, lexicon, hp, out):
    """Align every speech space to every text space with every method and score it.

    Returns ``{task: {row: {condition: metrics}}}``.
    """
    steps = hp["alignment"]["normalize"]
    en_es = lexicon["en_es"]
    train_es, test_es = split_dictionary(en_es, test_size=hp["translation_test_fraction"], seed=hp["seed"])
    results = {"classification": {}, "synonyms": {}, "translation": {}, "word_types": {}}
    log = {}
    for name, space in spaces.items():
        for cond, text in texts.items():
            foreign = cond == "es"
            methods = ["supervised"] + list(hp["unsupervised_methods"])
            for method in methods:
                row = f"{name}*" if method == "supervised" else f"{name} ({method})"
                if method == "supervised":
                    if foreign:
                        pairs = [
                            (k, d) for k, d in space.translation_pairs(train_es)
                            if d in text.index and k in space.types.index
                        ]
                    else:
                        pairs = space.label_dictionary(text.index)
                    if not pairs:
                        logger.warning("%s/%s: no supervised pair; row skipped", row, cond)
                        continue
                else:
                    pairs = None
                folder = os.path.join(out, "alignment", f"{name}_{cond}_{method}")
                start = time.time()
                w, info = align(
                    space.types, text, method=method, hparams=_capped(hp["alignment"], space, text),
                    train_pairs=pairs, seed=hp["seed"], output_folder=folder,
                    names=(f"speech {name}", f"text {cond}"),
                )
                save_mapping(w, os.path.join(folder, "mapping.npy"))
                scores = evaluate_space(
                    space, text, w, steps,
                    synonyms=None if foreign else lexicon["synonyms"],
                    dictionary=test_es if foreign else None,
                )
                for task, res in scores.items():
                    results[task].setdefault(row, {})[cond] = _metrics(res)
                log[f"{row}/{cond}"] = {
                    "criterion": info.get("criterion"), "seconds": round(time.time() - start, 1),
                    "train_pairs": len(pairs) if pairs else 0,
                }
                logger.info("%s / %s: %s", row, cond, {t: _metrics(r) for t, r in scores.items()})
    write_json(os.path.join(out, "alignment_log.json"), log)
    return results


def classifier_rows(folder):
    """The supervised classifier's test accuracy as a classification row."""
    path = os.path.join(folder, "test_results.json")
    with open(path, encoding="utf-8") as handle:
        res = json.load(handle)
    test = res["splits"]["test"]
    cell = {
        "nn_P@1": 100.0 * res["test_accuracy"],
        "n_scored": test["tokens_kept"],
        "n_items": test["tokens_total"],
        "n_skipped": test["tokens_total"] - test["tokens_kept"],
        "n_classes": res["n_classes"],
    }
    return {"classifier": {f"word classifier ({res['model']}, {res['n_classes']} words)": {"same": cell}}}


def write_tables(results, corpus, spaces, out):
    """Write results.json and results.md and print the tables."""
    write_json(os.path.join(out, "results.json"), {"results": results, "corpus": corpus})
    parts = ["# Results\n"]
    titles = {
        "classification": "Spoken word classification (accuracy = P@1, P@5) on test speakers",
        "synonyms": "Synonym retrieval (P@1, P@5), pivot synonyms through Spanish",
        "translation": "Spoken word translation English speech -> Spanish text (P@1, P@5)",
    }
    merged = dict(results)
    classifier = merged.pop("classifier", {})
    merged["classification"] = dict(classifier, **merged.get("classification", {}))
    for task, title in titles.items():
        if merged.get(task):
            parts.append(results_to_markdown(merged[task], title=title))
    text = "\n\n".join(parts) + "\n"
    with atomic_write(os.path.join(out, "results.md")) as handle:
        handle.write(text)
    print(text)


def _bar_table(task_results):
    """``{row: {condition: metrics}}`` -> ``{row: {"<cond> NN|CSLS": {"P@1", "P@5"}}}`` for bar plots.

    Example
    -------
    >>> _bar_table({"A": {"same": {"nn_P@1": 1.0, "nn_P@5": 2.0}}})
    {'A': {'same NN': {'P@1': 1.0, 'P@5': 2.0}}}
    """
    table = {}
    for row, conds in task_results.items():
        cells = {}
        for cond, metrics in conds.items():
            for method in ("nn", "csls"):
                if metrics.get(f"{method}_P@1") is not None:
                    cells[f"{cond} {method.upper()}"] = {
                        "P@1": metrics[f"{method}_P@1"], "P@5": metrics.get(f"{method}_P@5"),
                    }
        if cells:
            table[row] = cells
    return table


def make_plots(results, spaces, texts, out):
    """Training curves, P@k bars and the projection of config A before/after mapping."""
    from speechbrain_align.alignment.normalization import normalize_embeddings
    from speechbrain_align.alignment.pipeline import load_mapping
    from speechbrain_align.evaluation import plots

    figures = os.path.join(out, "figures")
    logs = {
        "Speech2Vec (words)": os.path.join(out, "speech2vec_words", "train_log.txt"),
        "Speech2Vec (chunks)": os.path.join(out, "speech2vec_chunks", "train_log.txt"),
    }
    logs = {k: v for k, v in logs.items() if os.path.exists(v)}
    if logs:
        plots.plot_training_curves(logs, os.path.join(figures, "speech2vec_loss.png"))
    adv = os.path.join(out, "alignment", "A_same_adversarial", "adversarial_log.txt")
    if os.path.exists(adv):
        plots.plot_training_curves({"A -> WEB text": adv}, os.path.join(figures, "adversarial.png"))
    for task in ("classification", "synonyms", "translation"):
        rows = dict(results.get(task, {}))
        if task == "classification":
            rows = dict(results.get("classifier", {}), **rows)
        table = _bar_table(rows)
        if table:
            plots.plot_precision_bars(table, os.path.join(figures, f"{task}_bars.png"), percent=True)
    mapping = os.path.join(out, "alignment", "A_same_supervised", "mapping.npy")
    if os.path.exists(mapping) and "A" in spaces:
        steps = ["unit", "center", "unit"]
        a = spaces["A"].types
        src = Embeddings(a.words, normalize_embeddings(a.vectors, steps))
        tgt = Embeddings(texts["same"].words, normalize_embeddings(texts["same"].vectors, steps))
        mapped = Embeddings(a.words, src.vectors @ load_mapping(mapping).T)
        plots.plot_alignment_projection(
            os.path.join(figures, "projection_A_supervised.png"), src, tgt, mapped,
            title="Config A: speech types and WEB text words, before and after A* mapping",
        )


def diagnostics(paths, out, text_vectors_path=None):
    """What the vectors of each configuration know (speech.diagnostics), as one table.

    Runs on the training segments: A and F by label, B and units through
    their segment assignments. The semantic reference is a text skip-gram
    trained on the same utterances' transcripts.
    """
    from speechbrain_align.speech.diagnostics import markdown_table, run_diagnostics

    folder = os.path.join(out, "diagnostics")
    words = os.path.join(out, "speech2vec_words", "vectors")
    units = os.path.join(out, "units", "units")
    ref = text_vectors_path or os.path.join(folder, "transcript_skipgram.vec")
    jobs = [
        ("A: Speech2Vec by label", os.path.join(words, "types_label.npz"), None, paths["train_csv"]),
        ("B: Speech2Vec k-means", os.path.join(words, "types_kmeans.npz"),
         os.path.join(words, "kmeans_assignment.csv"), paths["train_csv"]),
        ("F: equal chunks by label", os.path.join(out, "speech2vec_chunks", "vectors", "types_label.npz"),
         None, os.path.join(out, "speech2vec_chunks", "save", "equal_chunks_train.csv")),
        ("units: unit skip-gram", os.path.join(units, "units.vec"),
         os.path.join(units, "assignment.csv"), os.path.join(out, "units", "train_test.csv")),
    ]
    tables = []
    for i, (name, vectors, assignment, manifest) in enumerate(jobs):
        if not os.path.exists(vectors) or not os.path.exists(manifest):
            logger.warning("diagnostics: %s missing, row skipped", vectors)
            continue
        report = run_diagnostics(
            vectors, manifest, os.path.join(folder, f"diag_{i}.json"), assignment=assignment,
            name=name, text_vectors=ref if os.path.exists(ref) else None,
            save_text_vectors=None if os.path.exists(ref) else ref,
            random_baseline=(i == 0), text_row=(i == 0), min_count=2,
        )
        tables.append(markdown_table(report))
    text = "# What the speech vectors know (training segments)\n\n" + "\n\n".join(tables) + "\n"
    with atomic_write(os.path.join(out, "diagnostics.md")) as handle:
        handle.write(text)
    print(text)
    return text


def export_inference_space(out, spaces, texts, row="supervised"):
    """Write the aligned space of config A for :class:`AlignedSpace` (inference).

    Uses the Speech2Vec encoder of the word-segment run and the mappings of
    config A trained with ``row`` ("supervised" = A*, or "adversarial",
    "vecmap") to the same-language and Spanish text spaces.
    """
    import torch
    from hyperpyyaml import load_hyperpyyaml

    from speechbrain_align.alignment.pipeline import load_mapping
    from speechbrain_align.inference.pretrained import export_aligned_space

    s2v = os.path.join(out, "speech2vec_words")
    with open(os.path.join(s2v, "hyperparams.yaml"), encoding="utf-8") as handle:
        hp = load_hyperpyyaml(handle)
    hp["checkpointer"].recover_if_possible(min_key="loss")
    model = hp["speech2vec"]
    model_args = {
        "input_size": hp["n_feats"], "emb_dim": hp["emb_dim"], "enc_hidden": hp["enc_hidden"],
        "dec_hidden": hp["dec_hidden"], "rnn_type": hp["rnn_type"], "objective": hp["objective"],
    }
    folder = os.path.join(out, "aligned_space")
    with torch.no_grad():
        export_aligned_space(
            folder, model, model_args, os.path.join(s2v, "save", "feature_extractor.json"),
            spaces["A"].types, load_mapping(os.path.join(out, "alignment", f"A_same_{row}", "mapping.npy")),
            texts["same"], foreign_vectors=texts["es"],
            foreign_mapping=load_mapping(os.path.join(out, "alignment", f"A_es_{row}", "mapping.npy")),
            language="en", foreign_language="es",
        )
    return folder
