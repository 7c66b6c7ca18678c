"""Figures: training curves, 2-D projections of the spaces, P@k bar charts.

All functions draw with matplotlib's object API on the Agg canvas (no pyplot
state, no display needed), write a PNG atomically and return its path.

* :func:`plot_training_curves` -- one panel per metric per epoch, from
  SpeechBrain ``train_log.txt`` files (``FileTrainLogger``), JSON files or
  in-memory records (Speech2Vec loss, discriminator accuracy, selection
  criterion, ...).
* :func:`plot_alignment_projection` -- PCA of speech and text vectors before
  and after alignment, with some shared words labelled.
* :func:`plot_precision_bars` -- grouped P@k bars from
  ``{config: {condition: {"P@1": .., "P@5": ..}}}``.
"""

import json
import math
import os
import re

import numpy as np

from speechbrain_align.utils.errors import UserError
from speechbrain_align.utils.files import atomic_save


class PlotInputError(UserError, ValueError):
    """Plot input is empty or malformed; the message names the file, key or line."""


def _figure(width, height):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(fig, path):
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise PlotInputError(f"{path}: plots are written as PNG, use a .png file name")
    atomic_save(path, lambda tmp: fig.savefig(tmp, format="png"))
    return path


# ---------------------------------------------------------------- curves

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf"


def read_train_log(path):
    """Per-epoch records from a SpeechBrain ``FileTrainLogger`` file.

    Lines look like ``epoch: 3, lr: 1.00e-03 - train loss: 0.5 - valid loss:
    0.6, valid error: 0.2``. Each record is ``{"epoch": 3, "lr": 0.001,
    "train loss": 0.5, ...}``; lines without an ``epoch:`` field (such as the
    final ``Epoch loaded: ... test ...`` line) are skipped.

    Example
    -------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "log.txt")
    >>> _ = open(p, "w").write("epoch: 1, lr: 1.00e-03 - train loss: 2.5 - valid loss: 3.0\\n"
    ...                        "Epoch loaded: 1 - test loss: 3.1\\n")
    >>> read_train_log(p)
    [{'epoch': 1, 'lr': 0.001, 'train loss': 2.5, 'valid loss': 3.0}]
    """
    records = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            line = line.strip()
            if not line.startswith("epoch:"):
                continue
            record = {}
            for part in re.split(r" - |, ", line):
                if ":" not in part:
                    continue
                key, value = part.rsplit(":", 1)
                value = value.strip()
                if re.fullmatch(_NUMBER, value):
                    record[key.strip()] = float(value)
            if "epoch" not in record:
                raise PlotInputError(f"{path}:{line_no}: cannot read the epoch number")
            record["epoch"] = int(record["epoch"])
            records.append(record)
    if not records:
        raise PlotInputError(f"{path}: no 'epoch: N, ...' lines (not a SpeechBrain train log?)")
    return records


def _records_from_json(path):
    with open(path, encoding="utf-8") as handle:
        try:
            data = json.load(handle)
        except ValueError as err:
            raise PlotInputError(f"{path}: not valid JSON ({err})") from err
    return _records_from_object(data, path)


def _records_from_object(data, name):
    if isinstance(data, dict) and isinstance(data.get("epochs"), list):
        data = data["epochs"]
    if isinstance(data, dict):  # metric -> list of values
        lengths = {k: len(v) for k, v in data.items() if isinstance(v, (list, tuple))}
        if not lengths:
            raise PlotInputError(f"{name}: expected lists of per-epoch values")
        n = max(lengths.values())
        records = []
        for i in range(n):
            rec = {"epoch": i + 1}
            for key in lengths:
                if i < len(data[key]) and data[key][i] is not None:
                    rec[key] = data[key][i]
            records.append(rec)
        data = records
    if not isinstance(data, list) or not data:
        raise PlotInputError(f"{name}: expected a non-empty list of per-epoch records")
    records = []
    for i, rec in enumerate(data):
        if not isinstance(rec, dict):
            raise PlotInputError(f"{name}: record {i} is {type(rec).__name__}, not a dict")
        rec = dict(rec)
        rec.setdefault("epoch", i + 1)
        records.append(rec)
    return records


def load_curves(source):
    """Per-epoch records from a train log, a JSON file, or a list/dict in memory."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise PlotInputError(f"{path}: training log not found")
        if path.endswith(".json"):
            return _records_from_json(path)
        return read_train_log(path)
    return _records_from_object(source, "records")


def plot_training_curves(sources, path, metrics=None, title=None):
    """Plot per-epoch metrics, one panel per metric, one line per source.

    Arguments
    ---------
    sources : dict name -> source, or a single source
        A source is a SpeechBrain ``train_log.txt`` path, a ``.json`` path
        (list of per-epoch dicts, ``{"epochs": [...]}``, or ``{metric:
        [values]}``), or such a list/dict in memory.
    path : str
        Output PNG.
    metrics : list of str, optional
        Metrics to draw (default: every numeric key except ``epoch`` and
        ``lr``); a metric missing from every source is an error.
    title : str, optional

    Returns
    -------
    str : ``path``.

    Example
    -------
    >>> import tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "c.png")
    >>> plot_training_curves({"run": [{"loss": 3.0}, {"loss": 2.0}]}, out) == out
    True
    """
    if not isinstance(sources, dict) or not sources:
        sources = {"run": sources}
    curves = {name: load_curves(src) for name, src in sources.items()}
    available = []
    for records in curves.values():
        for rec in records:
            for key, value in rec.items():
                if key not in ("epoch", "lr") and key not in available and _is_number(value):
                    available.append(key)
    if metrics is None:
        metrics = available
    missing = [m for m in metrics if m not in available]
    if missing:
        raise PlotInputError(f"metrics {missing} are in no source (available: {available})")
    if not metrics:
        raise PlotInputError("no numeric per-epoch metric to plot")
    cols = min(3, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig = _figure(4.2 * cols, 3.2 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, metric in zip(axes, metrics):
        for name, records in curves.items():
            points = [(r["epoch"], r[metric]) for r in records if _is_number(r.get(metric))]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", markersize=3, label=name)
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if len(curves) > 1:
            ax.legend(fontsize=8)
    for ax in axes[len(metrics) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _is_number(value):
    return isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)


# ---------------------------------------------------------------- projection


def pca_2d(*matrices):
    """Project the rows of all ``matrices`` (same dim) onto their joint top-2 PCs.

    Example
    -------
    >>> a, b = pca_2d(np.eye(3), np.ones((2, 3)))
    >>> a.shape, b.shape
    ((3, 2), (2, 2))
    """
    stacked = np.concatenate([np.asarray(m, dtype=np.float64) for m in matrices])
    centred = stacked - stacked.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    proj = centred @ vt[:2].T
    if proj.shape[1] < 2:
        proj = np.hstack([proj, np.zeros((len(proj), 2 - proj.shape[1]))])
    out, start = [], 0
    for m in matrices:
        out.append(proj[start : start + len(m)])
        start += len(m)
    return out


def _unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _words_vectors(emb, name):
    if hasattr(emb, "words") and hasattr(emb, "vectors"):
        words, vectors = list(emb.words), np.asarray(emb.vectors)
    elif isinstance(emb, tuple) and len(emb) == 2:
        words, vectors = list(emb[0]), np.asarray(emb[1])
    else:
        raise PlotInputError(f"{name}: expected Embeddings or (words, vectors)")
    if vectors.ndim != 2 or len(words) != len(vectors) or len(words) < 2:
        raise PlotInputError(
            f"{name}: need >= 2 words with a (n_words, dim) matrix, got {len(words)} words "
            f"and shape {vectors.shape}"
        )
    if not np.isfinite(vectors).all():
        raise PlotInputError(f"{name}: non-finite values in the vectors")
    return words, vectors


def plot_alignment_projection(
    path, speech, text, mapped_speech, label_words=None, n_labels=12, max_points=2000, title=None
):
    """2-D PCA of speech and text vectors before (left) and after (right) alignment.

    Before alignment the two spaces are projected on their joint PCs when
    they have the same dimension, otherwise each on its own PCs (side by
    side in one panel would be meaningless, so they share axes but not a
    basis). After alignment the mapped speech vectors and the text vectors
    share one PCA basis; a labelled word's speech and text points are joined
    by a line, so good alignment shows short lines.

    Arguments
    ---------
    path : str
        Output PNG.
    speech, text, mapped_speech : Embeddings or (words, vectors)
        Speech vectors before mapping, text vectors, speech vectors after
        mapping (same words as ``speech``). Rows are unit-normalised here.
    label_words : list of str, optional
        Words to label; default the first ``n_labels`` words present in
        both spaces (usually the most frequent).
    max_points : int
        At most this many points per space are drawn (the first ones).
    title : str, optional
    """
    s_words, s_vec = _words_vectors(speech, "speech")
    t_words, t_vec = _words_vectors(text, "text")
    m_words, m_vec = _words_vectors(mapped_speech, "mapped_speech")
    if m_words != s_words:
        raise PlotInputError("mapped_speech must have the same words, in order, as speech")
    if m_vec.shape[1] != t_vec.shape[1]:
        raise PlotInputError(
            f"mapped_speech has dimension {m_vec.shape[1]} but text has {t_vec.shape[1]}"
        )
    t_index = {w: i for i, w in enumerate(t_words)}
    shared = [w for w in s_words if w in t_index]
    if label_words is None:
        label_words = shared[:n_labels]
    else:
        absent = [w for w in label_words if w not in t_index or w not in s_words]
        if absent:
            raise PlotInputError(f"label_words not in both spaces: {absent[:5]}")
    s_index = {w: i for i, w in enumerate(s_words)}
    keep_s = sorted(set(range(min(len(s_words), max_points))) | {s_index[w] for w in label_words})
    keep_t = sorted(set(range(min(len(t_words), max_points))) | {t_index[w] for w in label_words})
    s_vec, m_vec, t_vec = _unit(s_vec[keep_s]), _unit(m_vec[keep_s]), _unit(t_vec[keep_t])
    s_pos = {s_words[i]: j for j, i in enumerate(keep_s)}
    t_pos = {t_words[i]: j for j, i in enumerate(keep_t)}

    if s_vec.shape[1] == t_vec.shape[1]:
        before_s, before_t = pca_2d(s_vec, t_vec)
        before_note = "joint PCA"
    else:
        (before_s,), (before_t,) = pca_2d(s_vec), pca_2d(t_vec)
        before_note = "separate PCA per space"
    after_s, after_t = pca_2d(m_vec, t_vec)

    fig = _figure(12, 5.5)
    axes = fig.subplots(1, 2)
    panels = [
        (axes[0], before_s, before_t, f"before alignment ({before_note})"),
        (axes[1], after_s, after_t, "after alignment (mapped speech, joint PCA)"),
    ]
    for ax, ps, pt, name in panels:
        ax.scatter(ps[:, 0], ps[:, 1], s=6, alpha=0.35, c="tab:blue", label="speech")
        ax.scatter(pt[:, 0], pt[:, 1], s=6, alpha=0.35, c="tab:orange", label="text")
        for word in label_words:
            a, b = ps[s_pos[word]], pt[t_pos[word]]
            ax.plot([a[0], b[0]], [a[1], b[1]], c="grey", lw=0.6, alpha=0.7)
            ax.annotate(word, a, color="tab:blue", fontsize=8)
            ax.annotate(word, b, color="tab:orange", fontsize=8)
        ax.set_title(name)
        ax.legend(loc="best", fontsize=8, markerscale=3)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


# ---------------------------------------------------------------- P@k bars


def plot_precision_bars(results, path, metrics=("P@1", "P@5"), title=None, percent=None):
    """Grouped bar chart of P@k per configuration and condition.

    Arguments
    ---------
    results : dict
        ``{config: {condition: {"P@1": value, "P@5": value}}}``; a missing
        metric leaves a gap. Values are fractions (0-1) or percentages.
    path : str
        Output PNG.
    metrics : list of str
        One panel per metric.
    title : str, optional
    percent : bool, optional
        Show values as percentages; default: when every value is <= 1.

    Example
    -------
    >>> import tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "p.png")
    >>> res = {"skipgram": {"NN": {"P@1": 0.2, "P@5": 0.4}, "CSLS": {"P@1": 0.3, "P@5": 0.5}}}
    >>> plot_precision_bars(res, out) == out
    True
    """
    if not isinstance(results, dict) or not results:
        raise PlotInputError("results: expected a non-empty {config: {condition: {metric: value}}}")
    configs = list(results)
    conditions = []
    values = []
    for config, by_cond in results.items():
        if not isinstance(by_cond, dict) or not by_cond:
            raise PlotInputError(f"results[{config!r}]: expected a non-empty {{condition: {{...}}}}")
        for cond, scores in by_cond.items():
            if not isinstance(scores, dict):
                raise PlotInputError(f"results[{config!r}][{cond!r}]: expected {{metric: value}}")
            if cond not in conditions:
                conditions.append(cond)
            for metric in metrics:
                if metric in scores and scores[metric] is not None:
                    value = scores[metric]
                    if not _is_number(value) or not math.isfinite(value):
                        raise PlotInputError(
                            f"results[{config!r}][{cond!r}][{metric!r}] = {value!r} is not a number"
                        )
                    values.append(float(value))
    if not values:
        raise PlotInputError(f"results: no value for any of {list(metrics)}")
    if percent is None:
        percent = max(values) <= 1.0
    scale = 100.0 if percent else 1.0

    fig = _figure(max(5.0, 1.2 * len(configs) * len(metrics) + 2), 4.2)
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    width = 0.8 / len(conditions)
    x = np.arange(len(configs))
    for ax, metric in zip(axes, metrics):
        for j, cond in enumerate(conditions):
            heights = [
                scale * results[c][cond][metric]
                if cond in results[c] and results[c][cond].get(metric) is not None
                else np.nan
                for c in configs
            ]
            bars = ax.bar(x + (j - (len(conditions) - 1) / 2) * width, heights, width, label=cond)
            ax.bar_label(bars, fmt="%.1f" if percent else "%.2f", fontsize=7, padding=1)
        ax.set_xticks(x, configs, rotation=20, ha="right")
        ax.set_ylabel(f"{metric} (%)" if percent else metric)
        ax.set_title(metric)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)
