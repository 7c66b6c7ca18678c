"""The experiment's alignment grid: every speech space against every text space.

Each row (configuration) gets the supervised mapping (``X*``); the rows named
in ``unsupervised_rows`` also every unsupervised method. The unsupervised
runs are independent and seeded, so ``alignment_workers`` processes run them
side by side with the results of one; scoring follows in table order.
"""

import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import time

import torch

from speechbrain_align.alignment.mappings import save_mapping
from speechbrain_align.alignment.pipeline import align
from speechbrain_align.dataio.dictionaries import split_dictionary
from speechbrain_align.evaluation.crossmodal import evaluate_space
from speechbrain_align.utils.files import write_json

logger = logging.getLogger(__name__)


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


def _align_job(job):
    """One alignment run of the grid (here, or as a worker process's task): mapping and its log."""
    start = time.time()
    w, info = align(job["src"], job["tgt"], method=job["method"], hparams=job["settings"],
                    train_pairs=job["pairs"], seed=job["seed"], output_folder=job["folder"],
                    names=job["names"], run_opts=job["run_opts"])
    save_mapping(w, os.path.join(job["folder"], "mapping.npy"))
    return w, info, time.time() - start


def _alignment_jobs(spaces, texts, hp, out, train_es, run_opts):
    """The grid's runs in table order: one dict per (row, condition)."""
    unsupervised = hp.get("unsupervised_rows", list(spaces))
    jobs = []
    for name, space in spaces.items():
        for cond, text in texts.items():
            methods = ["supervised"]
            settings = _capped(hp["alignment"], space, text)
            if name in unsupervised:
                methods += list(hp["unsupervised_methods"])
                if isinstance(unsupervised, dict):
                    settings["restarts"] = int(unsupervised[name])
            for method in methods:
                row = f"{name}*" if method == "supervised" else f"{name} ({method})"
                pairs = None
                if method == "supervised":
                    if cond == "es":
                        pairs = [
                            (k, d) for k, d in space.translation_pairs(train_es)
                            if d in text.index and k in space.types.index
                        ]
                    else:
                        pairs = space.label_dictionary(text.index)
                    if not pairs:
                        logger.warning("%s/%s: no supervised pair; row skipped", row, cond)
                        continue
                jobs.append({
                    "name": name, "cond": cond, "row": row, "method": method,
                    "src": space.types, "tgt": text, "settings": settings, "pairs": pairs,
                    "seed": hp["seed"], "names": (f"speech {name}", f"text {cond}"),
                    "folder": os.path.join(out, "alignment", f"{name}_{cond}_{method}"),
                    "run_opts": run_opts,
                })
    return jobs


def align_all(spaces, texts, lexicon, hp, out, run_opts=None):
    """Align every speech space to every text space and score it.

    Every space gets the supervised mapping; those named in
    ``hp["unsupervised_rows"]`` (all when absent) also every method of
    ``hp["unsupervised_methods"]``. ``unsupervised_rows`` is a list of rows,
    or a mapping row -> number of restarts (runs from successive seeds, the
    best unsupervised criterion kept). ``run_opts`` (SpeechBrain run options,
    e.g. ``{"device": "cuda:0"}``) go to the adversarial Brain. The
    unsupervised runs are independent and seeded: ``hp["alignment_workers"]``
    processes (1 thread each) run them side by side with the same results as
    one. Returns ``{task: {row: {condition: metrics}}}``.
    """
    steps = hp["alignment"]["normalize"]
    en_es = lexicon["en_es"]
    train_es, test_es = split_dictionary(en_es, test_size=hp["translation_test_fraction"], seed=hp["seed"])
    jobs = _alignment_jobs(spaces, texts, hp, out, train_es, run_opts)
    workers = int(hp.get("alignment_workers", 1))
    # unsupervised runs go to the pool (adversarial first: the longest), its
    # workers with one thread as this process; the supervised ones (seconds
    # each) run here meanwhile
    pool = contextlib.nullcontext()
    if workers > 1:
        pool = concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=torch.set_num_threads, initargs=(1,))
    with pool:
        pending = {}
        if workers > 1:
            for i in sorted((i for i, j in enumerate(jobs) if j["method"] != "supervised"),
                            key=lambda i: jobs[i]["method"] != "adversarial"):
                pending[i] = pool.submit(_align_job, jobs[i])
        done = {i: _align_job(j) for i, j in enumerate(jobs) if i not in pending}
        done.update({i: future.result() for i, future in pending.items()})

    results = {"classification": {}, "synonyms": {}, "translation": {}, "word_types": {}}
    log = {}
    for i, job in enumerate(jobs):
        w, info, seconds = done[i]
        foreign = job["cond"] == "es"
        start = time.time()
        scores = evaluate_space(
            spaces[job["name"]], job["tgt"], w, steps,
            synonyms=None if foreign else lexicon["synonyms"],
            dictionary=test_es if foreign else None,
        )
        for task, res in scores.items():
            results[task].setdefault(job["row"], {})[job["cond"]] = _metrics(res)
        log[f"{job['row']}/{job['cond']}"] = {
            "criterion": info.get("criterion"),
            "seconds": round(seconds + time.time() - start, 1),
            "restarts": info.get("restarts"),
            "train_pairs": len(job["pairs"]) if job["pairs"] else 0,
        }
        logger.info("%s / %s: %s", job["row"], job["cond"],
                    {t: _metrics(r) for t, r in scores.items()})
    write_json(os.path.join(out, "alignment_log.json"), log)
    return results
