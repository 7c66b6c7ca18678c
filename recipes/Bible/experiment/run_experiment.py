#!/usr/bin/env python3
"""The whole experiment of Chung et al. (2018) on the spoken-Bible corpus.

    python recipes/Bible/experiment/run_experiment.py recipes/Bible/experiment/hparams/default.yaml
    python recipes/Bible/experiment/run_experiment.py recipes/Bible/experiment/hparams/full.yaml

Stages (each writes files the next reads; a rerun reuses what is done):

1. corpus: synthetic spoken WEB Bible + text corpora (``bible_prepare.py``);
2. text skip-gram vectors for WEB (same corpus), KJV (cross corpus) and
   Reina-Valera 1909 (translation); FreeDict en-es dictionary and
   pivot synonyms; the oracle T's skip-gram on the spoken transcripts;
3. Speech2Vec on word segments (configs A, B) and on equal chunks (F), and
   the unit skip-gram, each through its own recipe;
4. the supervised word classifier recipe (the upper bound);
5. for every speech configuration and text space: supervised Procrustes
   (A*) and unsupervised mappings (adversarial and vecmap initialisation,
   both followed by Procrustes refinement), scored on spoken word
   classification, synonym retrieval and spoken word translation;
6. diagnostics of what each configuration's vectors know, tables
   (Markdown, JSON, console), plots, and the aligned space of config A for
   ``python -m speechbrain_align.inference``.

Stages 2-4 train on one thread each; with ``stage_workers: 2`` they run in
two lanes side by side (acoustic word embeddings, units, classifier |
text vectors, oracle T, Speech2Vec A/B, Speech2Vec F), each recipe's output going to
``<out>/logs/``, and the diagnostics run beside the alignment stage (they
read the speech spaces, not the alignments). ``timings.json`` keeps each
stage's seconds and the ``wall_clock``.
"""

import concurrent.futures
import functools
import json
import logging
import os
import subprocess
import sys

# Small dense algebra (50-d SVDs, 4000x4000 similarity products) runs fastest on
# one BLAS thread; OpenBLAS's default thread pool made a 50x50 SVD 25x slower
# on a busy 2-core machine. Set before numpy loads; recipes inherit it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.dirname(HERE))  # recipes/Bible, for bible_prepare

from speechbrain_align.dataio.manifest import read_segment_manifest  # noqa: E402
from speechbrain_align.dataio.vectors import load_embeddings  # noqa: E402
from speechbrain_align.evaluation import experiment as exp  # noqa: E402
from speechbrain_align.evaluation import experiment_report as report  # noqa: E402
from alignment_grid import align_all, check_min_runs  # noqa: E402
from speechbrain_align.utils.errors import StepFailed, load_recipe_hparams, run_main  # noqa: E402

logger = logging.getLogger("experiment")


def run_recipe(script, hparams_file, overrides, log_file, run_opts=None, quiet=False):
    """Run a recipe's ``train.py`` as SpeechBrain recipes are run.

    The recipe writes to this process's terminal directly (a pipe would
    throttle its progress bars), or with ``quiet`` (recipes running side by
    side) to ``log_file`` after its command line; the recipe keeps its own
    ``log.txt`` in its output folder either way. ``run_opts`` (e.g.
    ``{"device": "cuda:0"}``) go to its command line as SpeechBrain run
    options.
    """
    cmd = [sys.executable, os.path.join(REPO, script), os.path.join(REPO, hparams_file)]
    for key, value in overrides.items():
        cmd.append(f"--{key}={json.dumps(value) if not isinstance(value, str) else value}")
    cmd += [f"--{key}={value}" for key, value in (run_opts or {}).items()]
    logger.info("running %s%s", " ".join(cmd), f" (output in {log_file})" if quiet else "")
    os.makedirs(os.path.dirname(log_file), exist_ok=True)
    with open(log_file, "w", encoding="utf-8") as log:
        log.write(" ".join(cmd) + "\n")
        log.flush()
        sys.stdout.flush()
        code = subprocess.call(cmd, cwd=REPO, stdout=log if quiet else None,
                               stderr=subprocess.STDOUT if quiet else None)
    if code != 0:
        raise StepFailed(f"{script} failed (exit {code}); command{' and output' if quiet else ''} "
                         f"in {log_file}")


def _text_stages(hp, ctx):
    """Text skip-gram vectors (same, cross, es) and the dictionaries."""
    out, paths, timer = ctx["out"], ctx["paths"], ctx["timer"]
    with timer("text vectors + dictionaries"):
        texts = {}
        for cond in exp.TEXT_CORPORA:
            vectors = os.path.join(out, "text_vectors", f"{cond}.vec")
            run_recipe(
                "recipes/Bible/text_vectors/train.py", hp["text_vectors_hparams"],
                dict(hp["skipgram"], corpus=paths[cond], skip_prep=True, vectors=vectors,
                     threads=hp["text_workers"], seed=hp["seed"], probe_words=[],
                     output_folder=os.path.join(out, "text_vectors", cond)),
                os.path.join(out, "logs", f"text_vectors_{cond}.log"), quiet=ctx["quiet"],
            )
            texts[cond] = load_embeddings(vectors)
        lexicon = exp.dictionaries(out, texts)
    return texts, lexicon


def _oracle_stage(hp, ctx):
    """The oracle T's skip-gram on the spoken transcripts (the speech spaces reuse it)."""
    with ctx["timer"]("oracle T (skip-gram on the transcripts)"):
        exp.transcript_types(ctx["paths"], os.path.join(ctx["out"], "spaces"), hp["skipgram"],
                             hp["seed"])


def _speech2vec_common(hp, ctx):
    """The settings both Speech2Vec runs share."""
    return dict(hp["speech2vec_overrides"], data_folder=hp["data_folder"],
                valid_csv=ctx["valid_subset"], seed=hp["seed"], kmeans_clusters=None)


def _speech2vec_words(hp, ctx):
    """Speech2Vec on word segments (A, and B's k-means)."""
    out, timer, manifests = ctx["out"], ctx["timer"], ctx["manifests"]
    common = _speech2vec_common(hp, ctx)
    with timer("speech2vec (words: A, B)"):
        s2v_train = exp.utterance_subset(ctx["all_csv"], hp["speech2vec_train_tokens"],
                                         hp["seed"], os.path.join(manifests, "speech2vec_train.csv"))
        run_recipe(
            "recipes/Bible/speech2vec/train.py", hp["speech2vec_hparams"],
            dict(common, train_csv=s2v_train, output_folder=os.path.join(out, "speech2vec_words"),
                 export_csvs=[ctx["all_csv"]]),
            os.path.join(out, "logs", "speech2vec_words.log"), ctx["run_opts"], ctx["quiet"],
        )
        exp.speech2vec_clusters(out, hp)  # config B's k-means, in this lane


def _speech2vec_chunks(hp, ctx):
    """Speech2Vec on equal-size chunks (F, the paper's baseline)."""
    out, paths, timer, manifests = ctx["out"], ctx["paths"], ctx["timer"], ctx["manifests"]
    common = _speech2vec_common(hp, ctx)
    with timer("speech2vec (equal chunks: F)"):
        chunk_train = exp.utterance_subset(
            paths["train_csv"], hp["speech2vec_chunk_train_tokens"], hp["seed"],
            os.path.join(manifests, "speech2vec_chunks_train.csv"), speakers=ctx["train_speakers"])
        chunk_test = exp.equal_chunk_manifest(paths["test_csv"], os.path.join(out, "chunks"))
        run_recipe(
            "recipes/Bible/speech2vec/train.py", hp["speech2vec_hparams"],
            dict(common, train_csv=chunk_train, segmentation="equal_chunks",
                 output_folder=os.path.join(out, "speech2vec_chunks"), export_csvs=[chunk_test]),
            os.path.join(out, "logs", "speech2vec_chunks.log"), ctx["run_opts"], ctx["quiet"],
        )


def _unit_stages(hp, ctx):
    """Acoustic word embeddings, then the unit skip-gram on their k-means units."""
    out, timer = ctx["out"], ctx["timer"]
    with timer("acoustic word embeddings"):
        awe = os.path.join(out, "awe")
        run_recipe(
            "recipes/Bible/awe/train.py", hp["awe_hparams"],
            dict(hp["awe_overrides"], data_folder=hp["data_folder"], output_folder=awe,
                 seed=hp["seed"]),
            os.path.join(out, "logs", "awe.log"), ctx["run_opts"], ctx["quiet"],
        )
    with timer("unit skip-gram"):
        n_units = hp.get("units_n_units")
        if n_units is None:  # the K the AWE stage chose without labels
            with open(os.path.join(awe, "n_units.json"), encoding="utf-8") as handle:
                n_units = json.load(handle)["n_units"]
        units = dict(hp["units_overrides"], train_csv=ctx["all_csv"], n_units=n_units,
                     feature_source=os.path.join(awe, "segments.npz"),
                     output_folder=os.path.join(out, "units"), seed=hp["seed"])
        units.update({k: hp["skipgram"][k] for k in ("window", "epochs", "sample")},
                     emb_dim=hp["skipgram"]["dim"], skipgram_runs=hp["skipgram"].get("runs", 1))
        run_recipe("recipes/Bible/units/train.py", hp["units_hparams"], units,
                   os.path.join(out, "logs", "units.log"), ctx["run_opts"], ctx["quiet"])


def _classifier_stage(hp, ctx):
    """The supervised word classifier (the upper bound), unless switched off."""
    if not hp.get("run_classifier", True):
        return
    out = ctx["out"]
    with ctx["timer"]("supervised word classifier"):
        classifier_train = exp.utterance_subset(
            ctx["paths"]["train_csv"], hp["classifier_train_tokens"], hp["seed"],
            os.path.join(ctx["manifests"], "classifier_train.csv"))
        run_recipe(
            "recipes/Bible/classification/train.py", hp["classifier_hparams"],
            dict(hp["classifier_overrides"], data_folder=hp["data_folder"],
                 train_csv=classifier_train, valid_csv=ctx["valid_subset"],
                 output_folder=os.path.join(out, "classifier"), seed=hp["seed"]),
            os.path.join(out, "logs", "classifier.log"), ctx["run_opts"], ctx["quiet"],
        )


def _run_lanes(lanes, workers):
    """Run each lane (a list of stage functions, in order) with ``workers`` lanes at once.

    Returns every stage's return value by function; the first error is
    raised once every lane has stopped (a stage that is running is not cut).
    """
    def lane(stages):
        # one OpenMP thread in this thread too, as in the main one (the setting
        # is per thread): faiss's k-means then gives the same clusters in a lane
        torch.set_num_threads(1)
        return {stage: stage() for stage in stages}

    values = {}
    if workers <= 1:
        for stages in lanes:
            values.update(lane(stages))
        return values
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(lane, stages) for stages in lanes]
        concurrent.futures.wait(futures)
    for future in futures:
        values.update(future.result())
    return values


def main(argv):
    """Parse ``hparams_file [--key=value ...]`` and run every stage."""
    if not argv or argv[0].startswith("--"):
        print(__doc__)
        sys.exit(2)
    hparams_file, overrides = argv[0], []
    for arg in argv[1:]:
        key, _, value = arg.lstrip("-").partition("=")
        overrides.append(f"{key}: {value}")
    overrides = "\n".join(overrides)
    hp = load_recipe_hparams(hparams_file, overrides)
    check_min_runs(hp)  # read at the alignment stage: a bad value fails before the training
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.chdir(REPO)
    torch.set_num_threads(1)  # the models here are tiny: threads only add overhead
    out = hp["output_folder"]
    os.makedirs(out, exist_ok=True)
    timer = exp.StageTimer(os.path.join(out, "timings.json"))

    from bible_prepare import prepare_bible

    with timer("corpus"):
        corpus = prepare_bible(
            hp["data_folder"], size=hp["corpus_size"], seed=hp["seed"],
            speech_tokens=hp.get("speech_tokens"), n_speakers=hp.get("n_speakers", 24),
        )
    paths = exp.corpus_paths(hp["data_folder"])
    manifests = os.path.join(out, "manifests")
    workers = int(hp.get("stage_workers", 1))
    ctx = {
        "out": out, "paths": paths, "timer": timer, "manifests": manifests,
        "run_opts": {"device": hp.get("device", "cpu")}, "quiet": workers > 1,
        "all_csv": exp.spoken_manifest(paths, manifests),
        "train_speakers": {r["spk_id"] for r in read_segment_manifest(paths["train_csv"])},
        "valid_subset": exp.utterance_subset(paths["valid_csv"], hp["valid_tokens"], hp["seed"],
                                             os.path.join(manifests, "valid_subset.csv")),
    }
    # Independent stages in two lanes of about equal length (each stage
    # trains on one thread): with stage_workers 2 the lanes run side by side.
    text, oracle, words, chunks, units, classifier = (
        functools.partial(f, hp, ctx)
        for f in (_text_stages, _oracle_stage, _speech2vec_words, _speech2vec_chunks,
                  _unit_stages, _classifier_stage))
    # twenty-seventh run (s, a slow machine): AWE 298.4 + units 340.0 + classifier
    # 172.0 = 810 | text 435.4 + A/B 292.3 + F 82.8 = 811 (F and the classifier
    # the other way round before: 721 | 900); twenty-sixth (a fast one): 375 | 336
    # twenty-ninth (s): 666 | 639, then T's skip-gram (33.5 s) moved here from the
    # speech spaces, where it ran alone: 638 | 635 in the thirtieth
    texts, lexicon = _run_lanes([[units, classifier], [text, oracle, words, chunks]],
                                workers)[text]
    with timer("speech spaces"):
        spaces = exp.speech_spaces(paths, out, hp)

    def alignment():
        with timer("alignment + evaluation"):
            results = align_all(spaces, texts, lexicon, hp, out, ctx["run_opts"])
            if hp.get("run_classifier", True):
                results.update(report.classifier_rows(os.path.join(out, "classifier")))
        return results

    def diagnostics():
        with timer("diagnostics"):
            report.diagnostics(paths, out)

    # the diagnostics read the spaces, not the alignments: beside the alignment
    # stage, they fill the cores its last runs leave idle
    results = _run_lanes([[alignment], [diagnostics]], workers)[alignment]
    with timer("tables + plots + inference export"):
        report.write_tables(results, corpus, spaces, out)
        report.make_plots(results, spaces, texts, out)
        exp.export_inference_space(out, spaces, texts)
    timer.report()


if __name__ == "__main__":
    sys.exit(run_main(main))
