"""The alignment grid's scheduler and restart policy (``restart_agreement``, ``min_runs``).

The grid's unsupervised runs go to a pool of worker processes, at most one
job per worker in flight so that a restart can go ahead of the first runs
still queued. With ``restart_agreement``, a method's restarts (runs from
later seeds) run one at a time until another method confirms one of its runs
(the two mappings translate the most frequent words alike) or none is left;
only methods whose best criterion is below another's restart. ``min_runs``
({method: n}) makes a method run at least n seeds on such a row first. Each
method keeps its run with the best criterion.
"""

import concurrent.futures
import multiprocessing
import os

import torch

from speechbrain_align.alignment.criterion import translation_agreement
from speechbrain_align.alignment.mappings import save_mapping
from speechbrain_align.alignment.normalization import normalize_embeddings
from speechbrain_align.utils.files import write_json

_BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


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


def run_jobs(jobs, spaces, texts, hp, align_job, on_result=None):
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
        return _wait_jobs(executor, max(1, workers), jobs, spaces, texts, hp, align_job,
                          on_result or (lambda i, r: None))
    finally:
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _wait_jobs(executor, in_flight, jobs, spaces, texts, hp, align_job, on_result):
    """Submit the unsupervised jobs to ``executor`` (``in_flight`` at a time), run the rest
    here; wait for all."""
    threshold = hp.get("restart_agreement")
    # rows that may need restarts first, one (row, condition) after another in
    # table order, so that a pair's first runs end together and its restart, if
    # any, is decided early; in a pair, a method with basin hops (the longest
    # runs: in the thirtieth run `gw` 100-120 s, adversarial 61-94 s, vecmap's
    # two seeds 70-94 s together) first, then table order (adversarial, vecmap)
    first = {}
    for i, job in enumerate(jobs):
        first.setdefault((job["name"], job["cond"]), i)
    unsupervised = sorted(
        (i for i, j in enumerate(jobs) if j["method"] != "supervised"),
        key=lambda i: (-jobs[i]["deferred"], first[jobs[i]["name"], jobs[i]["cond"]],
                       -int(jobs[i]["overrides"].get("refinement_hops", 0))))
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
            futures[executor.submit(align_job, job)] = i

    with executor:
        fill()
        for i, job in enumerate(jobs):
            if job["method"] == "supervised":
                final(i, align_job(job))
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
