"""Accuracy over speaker-disjoint folds: per-run records, summaries, one table.

A classification run folder holds ``test_results.json`` (written by
:func:`speechbrain_align.speech.classifier_brain.run_classification`),
``train_log.txt`` and ``confusion.json``. :func:`summarize_folds` reads the
fixed-split run and the fold runs of one model and gives the fold mean and
spread; :func:`folds_table` puts several models' summaries in one Markdown
table (model x fixed split x fold mean +- standard deviation).
"""

import json
import os

import numpy as np

from speechbrain_align.evaluation.confusion import read_confusion
from speechbrain_align.evaluation.plots import PlotInputError, read_train_log


def read_run(folder):
    """The test accuracy and training figures of one run folder.

    Returns
    -------
    dict
        ``model``, ``accuracy``, ``n_test``, ``n_classes``, ``best_epoch``,
        ``epochs`` (trained), ``train_seconds_per_epoch`` (mean over the
        logged epochs that record it, else None).
    """
    path = os.path.join(folder, "test_results.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: missing (run the recipe on this split first)")
    with open(path, encoding="utf-8") as handle:
        res = json.load(handle)
    record = {
        "folder": folder,
        "model": res.get("model"),
        "accuracy": float(res["test_accuracy"]),
        "n_test": int(res["split_sizes"]["test"]),
        "n_classes": int(res["n_classes"]),
        "best_epoch": res.get("checkpoint_epoch"),
        "epochs": None,
        "train_seconds_per_epoch": None,
    }
    log = os.path.join(folder, "train_log.txt")
    if os.path.isfile(log):
        try:
            epochs = read_train_log(log)
        except PlotInputError:
            epochs = []
        record["epochs"] = max((e["epoch"] for e in epochs), default=None)
        seconds = [e["train seconds"] for e in epochs if "train seconds" in e]
        if seconds:
            record["train_seconds_per_epoch"] = float(np.mean(seconds))
    return record


def summarize_folds(fixed_folder, fold_folders):
    """Summary of one model: fixed-split accuracy, fold mean and spread.

    Arguments
    ---------
    fixed_folder : str or None
        The run on the fixed speaker-disjoint split.
    fold_folders : list of str
        The runs on folds 0..n-1.

    Returns
    -------
    dict
        ``model``, ``fixed`` (accuracy), ``folds`` (accuracies),
        ``mean``, ``std`` (sample standard deviation, ddof=1), ``min``,
        ``max``, ``n_test_folds``, ``train_seconds_per_epoch`` (mean over
        runs), ``epochs``, ``confusion`` (``{"classes", "matrix"}`` summed
        over folds, when every fold has one).

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_align.utils.files import write_json
    >>> folders = []
    >>> for acc in (0.9, 0.8, 1.0):
    ...     folders.append(tempfile.mkdtemp())
    ...     write_json(os.path.join(folders[-1], "test_results.json"), {"model": "m",
    ...         "test_accuracy": acc, "split_sizes": {"test": 10}, "n_classes": 2})
    >>> s = summarize_folds(None, folders)
    >>> round(s["mean"], 3), round(s["std"], 3), s["fixed"]
    (0.9, 0.1, None)
    """
    if not fold_folders:
        raise ValueError("no fold runs to summarise")
    runs = [read_run(f) for f in fold_folders]
    fixed = read_run(fixed_folder) if fixed_folder else None
    accs = np.array([r["accuracy"] for r in runs])
    everything = runs + ([fixed] if fixed else [])
    seconds = [r["train_seconds_per_epoch"] for r in everything if r["train_seconds_per_epoch"]]
    summary = {
        "model": (fixed or runs[0])["model"],
        "fixed": fixed["accuracy"] if fixed else None,
        "fixed_n_test": fixed["n_test"] if fixed else None,
        "folds": accs.tolist(),
        "mean": float(accs.mean()),
        "std": float(accs.std(ddof=1)) if len(accs) > 1 else 0.0,
        "min": float(accs.min()),
        "max": float(accs.max()),
        "n_test_folds": [r["n_test"] for r in runs],
        "epochs": sorted({r["epochs"] for r in everything if r["epochs"]}),
        "best_epochs": [r["best_epoch"] for r in runs],
        "train_seconds_per_epoch": float(np.mean(seconds)) if seconds else None,
    }
    paths = [os.path.join(f, "confusion.json") for f in fold_folders]
    if all(os.path.isfile(p) for p in paths):
        classes, total = read_confusion(paths[0])
        for p in paths[1:]:
            other_classes, matrix = read_confusion(p)
            if other_classes != classes:
                total = None
                break
            total = total + matrix
        if total is not None:
            summary["confusion"] = {"classes": classes, "matrix": total.tolist()}
    return summary


def folds_table(summaries):
    """Markdown table of several models' :func:`summarize_folds` summaries.

    Example
    -------
    >>> print(folds_table([{"model": "m", "fixed": 0.9, "mean": 0.85, "std": 0.02,
    ...     "min": 0.83, "max": 0.88, "folds": [0.83, 0.88], "train_seconds_per_epoch": 4.0,
    ...     "epochs": [30]}]))  # doctest: +NORMALIZE_WHITESPACE
    | model | fixed split | 2-fold mean +- sd | folds (min-max) | epochs | train s/epoch |
    |---|---|---|---|---|---|
    | m | 90.0 % | 85.0 +- 2.0 % | 83.0-88.0 % | 30 | 4.0 |
    """
    n = {len(s["folds"]) for s in summaries}
    label = f"{n.pop()}-fold" if len(n) == 1 else "fold"
    lines = [
        f"| model | fixed split | {label} mean +- sd | folds (min-max) | epochs | train s/epoch |",
        "|---|---|---|---|---|---|",
    ]
    for s in summaries:
        fixed = "-" if s.get("fixed") is None else f"{100 * s['fixed']:.1f} %"
        seconds = s.get("train_seconds_per_epoch")
        lines.append(
            f"| {s['model']} | {fixed} | {100 * s['mean']:.1f} +- {100 * s['std']:.1f} % | "
            f"{100 * s['min']:.1f}-{100 * s['max']:.1f} % | "
            f"{', '.join(str(e) for e in s.get('epochs') or []) or '-'} | "
            f"{'-' if seconds is None else f'{seconds:.1f}'} |"
        )
    return "\n".join(lines)
