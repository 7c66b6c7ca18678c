"""The experiment's alignment grid: every speech space against every text space.

Each run is the TextToText alignment recipe (``recipes/TextToText/alignment``):
its YAML for the method (``alignment_hparams``) with the experiment's
overrides (``alignment_overrides``), run through the recipe's ``prepare`` and
``run`` on the spaces written to ``<out>/alignment/inputs``. Each row
(configuration) gets the supervised mapping (``X*``); the rows named in
``unsupervised_rows`` also every unsupervised method. The unsupervised runs
are independent and seeded, so ``alignment_workers`` processes run them side
by side with the results of one; each job is scored here as soon as its
result is final, while the others run on. The scheduler and the restart
policy (``restart_agreement``, ``min_runs``) are in ``restart_policy.py``.
"""

import importlib.util
import logging
import os
import time

from speechbrain_align.dataio.dictionaries import split_dictionary, write_muse_dictionary
from speechbrain_align.dataio.vectors import save_embeddings
from speechbrain_align.evaluation.crossmodal import evaluate_space
from speechbrain_align.utils.errors import HparamsError
from speechbrain_align.utils.files import write_json

from restart_policy import run_jobs  # noqa: E402 (the recipe folder is on sys.path)

logger = logging.getLogger(__name__)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
RECIPE = os.path.join(REPO, "recipes", "TextToText", "alignment", "train.py")
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

    run_jobs(jobs, spaces, texts, hp, _align_job, on_result=score)
    results = {"classification": {}, "synonyms": {}, "translation": {}, "word_types": {}}
    log = {}
    for i, job in enumerate(jobs):  # table order
        scores, log[f"{job['row']}/{job['cond']}"] = scored[i]
        for task, res in scores.items():
            results[task].setdefault(job["row"], {})[job["cond"]] = _metrics(res)
    write_json(os.path.join(out, "alignment_log.json"), log)
    return results
