"""The experiment's alignment grid: every speech space against every text space.

Each run is the TextToText alignment recipe (``recipes/TextToText/alignment``):
its YAML for the method (``alignment_hparams``) with the experiment's
overrides (``alignment_overrides``), run through the recipe's ``prepare`` and
``run`` on the spaces written to ``<out>/alignment/inputs``. Each row
(configuration) gets the supervised mapping (``X*``); the rows named in
``unsupervised_rows`` also every unsupervised method. The unsupervised runs
are independent and seeded, so ``alignment_workers`` processes run them side
by side with the results of one; each job is scored here as soon as its
result is final, while the others run on. With
``restart_agreement``, a row's restarts (runs from later seeds) run one at a
time, only while no other method confirms one of the method's runs (the two
mappings translate the most frequent words alike) and only for the methods
whose best criterion is below another's (the likelier failures; the best
waits for a confirmation): the label-free guard of the restarts, at the cost
of one run where the methods agree. ``min_runs`` ({method: n}) makes a method
run at least n seeds on such a row before a confirmation ends them.
"""

import concurrent.futures
import importlib.util
import logging
import multiprocessing
import os
import time

import torch

from speechbrain_align.alignment.criterion import translation_agreement
from speechbrain_align.alignment.mappings import save_mapping
from speechbrain_align.alignment.normalization import normalize_embeddings
from speechbrain_align.dataio.dictionaries import split_dictionary, write_muse_dictionary
from speechbrain_align.dataio.vectors import save_embeddings
from speechbrain_align.evaluation.crossmodal import evaluate_space
from speechbrain_align.utils.errors import HparamsError
from speechbrain_align.utils.files import write_json

logger = logging.getLogger(__name__)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
RECIPE = os.path.join(REPO, "recipes", "TextToText", "alignment", "train.py")
_BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_CAPPED = ("max_rank", "dico_max_rank", "criterion_words", "init_vocab", "vocab_cutoff")
_recipe_module = None


def _recipe():
    """The alignment recipe's ``train.py`` as a module (loaded once per process)."""
    global _recipe_module
    if _recipe_module is None:
        spec = importlib.util.spec_from_file_location("text_to_text_alignment", RECIPE)
        _recipe_module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_recipe_module)
    return _recipe_module


def _metrics(task_result):
    """Keep the numbers of a task result that the tables show."""
    keep = ("n_items", "n_scored", "n_skipped", "skipped_no_query", "skipped_no_gold")
    out = {k: task_result[k] for k in keep if k in task_result}
    out.update({k: v for k, v in task_result.items() if "_P@" in k or k.startswith("n_top")
                or k.startswith("n_ranks")})
    return out


def _align_job(job):
    """One run of the recipe (here, or as a worker process's task): mapping, log, seconds."""
    start = time.time()
    recipe = _recipe()
    w, info = recipe.run(recipe.prepare(job["hparams_file"], job["overrides"]), job["run_opts"])
    return w, info, time.time() - start


def method_overrides(hp, method, smallest):
    """The experiment's overrides for ``method``, frequency cuts capped at ``smallest`` words."""
    overrides = dict(hp["alignment_overrides"].get(method) or {})
    overrides.update({k: min(v, smallest) for k, v in overrides.items() if k in _CAPPED})
    return overrides


def check_min_runs(hp):
    """``hp["min_runs"]`` (absent: none) as ``{method: runs >= 1}``; one clear error otherwise.

    Example
    -------
    >>> check_min_runs({"alignment_hparams": {"vecmap": "v.yaml"}, "min_runs": {"vecmap": 2}})
    {'vecmap': 2}
    """
    value = hp.get("min_runs") or {}
    if not isinstance(value, dict):
        raise HparamsError(f"min_runs: expected a mapping method -> runs, got {value!r}")
    for method, runs in value.items():
        if method not in hp["alignment_hparams"]:
            raise HparamsError(f"min_runs: {method!r} is not a method of alignment_hparams "
                               f"({sorted(hp['alignment_hparams'])})")
        if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
            raise HparamsError(f"min_runs: {method}: expected a whole number >= 1, got {runs!r}")
    return dict(value)


def _write_inputs(spaces, texts, folder):
    """Each space's types and each text space as ``.npz`` files the recipe reads."""
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for kind, items in (("speech", {k: s.types for k, s in spaces.items()}), ("text", texts)):
        for name, emb in items.items():
            paths[kind, name] = os.path.join(folder, f"{kind}_{name}.npz")
            save_embeddings(emb, paths[kind, name])
    return paths


def _alignment_jobs(spaces, texts, hp, out, train_es, run_opts):
    """The grid's runs in table order: one dict per (row, condition, method)."""
    unsupervised = hp.get("unsupervised_rows", list(spaces))
    min_runs = check_min_runs(hp)
    inputs = _write_inputs(spaces, texts, os.path.join(out, "alignment", "inputs"))
    jobs = []
    for name, space in spaces.items():
        for cond, text in texts.items():
            methods = ["supervised"]
            row_methods = list((hp.get("row_methods") or {}).get(name, hp["unsupervised_methods"]))
            if name in unsupervised:
                methods += row_methods
            smallest = min(len(space.types), len(text))
            for method in methods:
                row = f"{name}*" if method == "supervised" else f"{name} ({method})"
                folder = os.path.join(out, "alignment", f"{name}_{cond}_{method}")
                overrides = method_overrides(hp, method, smallest)
                overrides.update(src_vec=inputs["speech", name], tgt_vec=inputs["text", cond],
                                 output_folder=folder, seed=hp["seed"])
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
                    os.makedirs(folder, exist_ok=True)
                    overrides["dico_train"] = os.path.join(folder, "dico_train.txt")
                    write_muse_dictionary(pairs, overrides["dico_train"])
                elif isinstance(unsupervised, dict):
                    restarts = unsupervised[name]  # a number, or one per condition
                    if isinstance(restarts, dict):
                        restarts = restarts.get(cond, 1)
                    if int(restarts) == 0:  # no unsupervised run on this condition
                        continue
                    overrides["restarts"] = int(restarts)
                deferred = 0
                if (method != "supervised" and hp.get("restart_agreement") is not None
                        and len(row_methods) > 1):
                    # the first run alone; the others only if no other method confirms it
                    deferred = overrides.get("restarts", 1) - 1
                    overrides["restarts"] = 1
                jobs.append({
                    "name": name, "cond": cond, "row": row, "method": method,
                    "hparams_file": os.path.join(REPO, hp["alignment_hparams"][method]),
                    "overrides": overrides, "n_pairs": len(pairs) if pairs else 0,
                    "run_opts": run_opts, "deferred": deferred,
                    "min_runs": min(min_runs.get(method, 1), deferred + 1),
                })
    return jobs


class _Inline:
    """An executor that runs each job when it is submitted (one process)."""

    def submit(self, fn, *args):
        """Run ``fn(*args)`` now; a finished future."""
        future = concurrent.futures.Future()
        future.set_result(fn(*args))
        return future

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Agreements:
    """Translation agreement between runs of one (row, condition), computed once per pair of runs."""

    def __init__(self, jobs, runs, spaces, texts, hp):
        self.jobs, self.runs, self.spaces, self.texts, self.hp = jobs, runs, spaces, texts, hp
        self.cache = {}

    def value(self, i, k, m, j):
        """Agreement of run ``k`` of job ``i`` with run ``j`` of job ``m`` (None: not comparable)."""
        key = (min((i, k), (m, j)), max((i, k), (m, j)))
        if key not in self.cache:
            (w_a, info_a, _), (w_b, info_b, _) = self.runs[i][k], self.runs[m][j]
            value = None  # mappings of differently normalised spaces: not comparable
            if info_a["normalize"] == info_b["normalize"]:
                job, steps = self.jobs[i], info_a["normalize"]
                src = self.spaces[job["name"]].types.sorted_by_count().vectors
                value = round(translation_agreement(
                    normalize_embeddings(src, steps),
                    normalize_embeddings(self.texts[job["cond"]].vectors, steps), w_a, w_b,
                    self.hp.get("agreement_words", 1000)), 4)
            self.cache[key] = value
        return self.cache[key]

    def of_run(self, i, k, members):
        """``{method: best agreement of run k of job i with that method's runs so far}``."""
        out = {}
        for m in members:
            for j in range(len(self.runs.get(m, ())) if m != i else 0):
                value = self.value(i, k, m, j)
                if value is not None:
                    out[self.jobs[m]["method"]] = max(value, out.get(self.jobs[m]["method"], value))
        return out


def _follow_up(job, k):
    """Restart ``k`` of ``job``: its seed + ``k``, in ``restart<k>/``."""
    overrides = dict(job["overrides"], restarts=1, seed=job["overrides"]["seed"] + k,
                     output_folder=os.path.join(job["overrides"]["output_folder"], f"restart{k}"))
    return dict(job, overrides=overrides)


def _merge(job, parts, agreements=None):
    """One result from a job's runs: the best criterion, every run listed.

    ``agreements`` (one dict per run, with the restart policy) go into each
    run's entry of ``restarts``; ``agreement`` is the kept run's.
    """
    best = max(range(len(parts)), key=lambda k: parts[k][1]["criterion"])
    w, info, _ = parts[best]
    restarts = [r for _, i, _ in parts for r in i["restarts"]]
    if agreements is not None:
        restarts = [dict(r, agreement=a) for r, a in zip(restarts, agreements)]
    info = dict(info, restarts=restarts,
                agreement=None if agreements is None else agreements[best])
    folder = job["overrides"]["output_folder"]  # the recipe's folder shows the kept run
    if len(parts) > 1:
        save_mapping(w, os.path.join(folder, "mapping.npy"))
    write_json(os.path.join(folder, "log.json"), info)
    return w, info, sum(part[2] for part in parts)


def _run_jobs(jobs, spaces, texts, hp, on_result=None):
    """Run every job; returns ``{index: (W, info, seconds)}``.

    The unsupervised runs go to ``alignment_workers`` processes while the
    supervised ones (seconds each) run here.
    With ``restart_agreement`` set, a method's restarts run one after another
    until another method confirms one of its runs or none is left: two methods
    that found the same mapping (translation agreement at least
    ``restart_agreement``) both succeeded, and a failed run agrees with
    nothing. Of unconfirmed methods only those whose best criterion is below
    another method's restart; the one with the best criterion waits for the
    others and is kept as it is when they end unconfirmed. A method first
    makes its job's ``min_runs`` runs. Each method keeps its run with the best
    criterion.
    ``on_result(index, result)`` is called here as soon as a job's result is
    final, while the other jobs run on.
    """
    workers = int(hp.get("alignment_workers", 1))
    executor, saved_env = _Inline(), {}
    if workers > 1:
        # one thread per worker, numpy's BLAS included (it reads these when
        # the spawned worker loads it): more would oversubscribe the cores
        for name in _BLAS_THREADS:
            saved_env[name] = os.environ.get(name)
            os.environ[name] = "1"
        executor = concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=torch.set_num_threads, initargs=(1,))
    try:
        return _wait_jobs(executor, max(1, workers), jobs, spaces, texts, hp,
                          on_result or (lambda i, r: None))
    finally:
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _wait_jobs(executor, in_flight, jobs, spaces, texts, hp, on_result):
    """Submit the unsupervised jobs to ``executor`` (``in_flight`` at a time), run the rest
    here; wait for all."""
    threshold = hp.get("restart_agreement")
    # rows that may need restarts first, one (row, condition) after another in
    # table order (adversarial, then vecmap), so that a pair's first runs end
    # together and its restart, if any, is decided early
    unsupervised = sorted((i for i, j in enumerate(jobs) if j["method"] != "supervised"),
                          key=lambda i: -jobs[i]["deferred"])
    pairs = {}
    for i in unsupervised:
        pairs.setdefault((jobs[i]["name"], jobs[i]["cond"]), []).append(i)
    runs, done, pending = {}, {}, set()
    agree = _Agreements(jobs, runs, spaces, texts, hp)

    def final(i, result):
        done[i] = result
        on_result(i, result)

    def best(i):
        return max(info["criterion"] for _, info, _ in runs[i]), -i

    def settle(members):
        """Keep, restart or leave waiting each open job of one (row, condition)."""
        if not all(m in runs for m in members):
            return  # the first runs are not all in
        changed = True
        while changed:
            changed = False
            for m in members:
                if m in done or m in pending:
                    continue
                if len(runs[m]) < jobs[m]["min_runs"]:  # too few runs to choose from
                    queue.insert(0, (m, _follow_up(jobs[m], len(runs[m]))))
                    pending.add(m)
                    changed = True
                    continue
                per_run = [agree.of_run(m, k, members) for k in range(len(runs[m]))]
                confirmed = any(v >= threshold for a in per_run for v in a.values())
                others = [o for o in members if o != m]
                below = any(best(m) < best(o) for o in others)
                waiting = any(o not in done for o in others)
                if confirmed or len(runs[m]) > jobs[m]["deferred"] or not (below or waiting):
                    final(m, _merge(jobs[m], runs[m], per_run))
                elif below:  # a lower criterion than another method's: the likelier failure
                    # ahead of the first runs still queued: a pair's restarts are
                    # sequential, the longest chain of the stage
                    queue.insert(0, (m, _follow_up(jobs[m], len(runs[m]))))
                    pending.add(m)
                else:  # the best criterion so far: wait for the others' restarts to confirm it
                    continue
                changed = True

    # at most one job per worker in flight, the others queued here, so that a
    # restart can go ahead of them
    queue = [(i, jobs[i]) for i in unsupervised]
    futures = {}

    def fill():
        while queue and len(futures) < in_flight:
            i, job = queue.pop(0)
            futures[executor.submit(_align_job, job)] = i

    with executor:
        fill()
        for i, job in enumerate(jobs):
            if job["method"] == "supervised":
                final(i, _align_job(job))
        while futures:
            finished, _ = concurrent.futures.wait(
                list(futures), return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                i = futures.pop(future)
                runs.setdefault(i, []).append(future.result())
                pending.discard(i)
                if threshold is None:  # restarts ran inside the recipe
                    final(i, _merge(jobs[i], runs[i]))
                else:
                    settle(pairs[jobs[i]["name"], jobs[i]["cond"]])
            fill()
    return done


def align_all(spaces, texts, lexicon, hp, out, run_opts=None):
    """Align every speech space to every text space and score it.

    Every space gets the supervised mapping; those named in
    ``hp["unsupervised_rows"]`` (all when absent) also every method of
    ``hp["unsupervised_methods"]`` (or of ``hp["row_methods"][row]`` for the
    rows named there). ``unsupervised_rows`` is a list of rows,
    or a mapping row -> number of restarts (runs from successive seeds, the
    best unsupervised criterion kept), or row -> {condition: restarts}. Each
    run is the alignment recipe with the YAML ``hp["alignment_hparams"][method]``
    and the overrides ``hp["alignment_overrides"][method]`` (frequency cuts
    capped by the vocabularies). ``run_opts`` (SpeechBrain run options, e.g.
    ``{"device": "cuda:0"}``) go to the recipe. The unsupervised runs are
    independent and seeded: ``hp["alignment_workers"]`` processes (1 thread
    each) run them side by side with the same results as one. Returns
    ``{task: {row: {condition: metrics}}}``.
    """
    en_es = lexicon["en_es"]
    train_es, test_es = split_dictionary(en_es, test_size=hp["translation_test_fraction"], seed=hp["seed"])
    jobs = _alignment_jobs(spaces, texts, hp, out, train_es, run_opts)
    scored = {}

    def score(i, result):
        # scored as soon as final, while the workers run the other jobs
        job, (w, info, seconds) = jobs[i], result
        foreign = job["cond"] == "es"
        start = time.time()
        scores = evaluate_space(
            spaces[job["name"]], texts[job["cond"]], w, info["normalize"],
            synonyms=None if foreign else lexicon["synonyms"],
            dictionary=test_es if foreign else None,
        )
        scored[i] = scores, {
            "criterion": info.get("criterion"),
            "seconds": round(seconds + time.time() - start, 1),
            "restarts": info.get("restarts"),
            "agreement": info.get("agreement"),
            "train_pairs": job["n_pairs"],
        }
        logger.info("%s / %s: %s", job["row"], job["cond"],
                    {t: _metrics(r) for t, r in scores.items()})

    _run_jobs(jobs, spaces, texts, hp, on_result=score)
    results = {"classification": {}, "synonyms": {}, "translation": {}, "word_types": {}}
    log = {}
    for i, job in enumerate(jobs):  # table order
        scores, log[f"{job['row']}/{job['cond']}"] = scored[i]
        for task, res in scores.items():
            results[task].setdefault(job["row"], {})[job["cond"]] = _metrics(res)
    write_json(os.path.join(out, "alignment_log.json"), log)
    return results
