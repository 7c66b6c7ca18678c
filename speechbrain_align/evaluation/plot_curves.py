"""Per-epoch training curves from SpeechBrain train logs, JSON files or records."""

import json
import math
import os
import re

from speechbrain_align.evaluation.plot_common import PlotInputError, _figure, _is_number, _save

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
    """Plot per-epoch metrics, one panel per metric, one line per source, to a PNG.

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
    return _save(draw_training_curves(sources, metrics=metrics, title=title), path)


def draw_training_curves(sources, metrics=None, title=None):
    """The figure of :func:`plot_training_curves`, not saved.

    One axes per metric (title = the metric, x label ``epoch``), one line
    per source labelled with its name; unused axes of the grid are hidden.

    Arguments
    ---------
    sources : dict name -> source, or a single source
        As for :func:`plot_training_curves`.
    metrics : list of str, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Example
    -------
    >>> fig = draw_training_curves({"run": [{"loss": 3.0}, {"loss": 2.0}]})
    >>> [ax.get_title() for ax in fig.axes], fig.axes[0].lines[0].get_ydata().tolist()
    (['loss'], [3.0, 2.0])
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
    return fig
