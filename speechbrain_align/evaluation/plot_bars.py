"""Grouped P@k bar charts per configuration and condition."""

import math

import numpy as np

from speechbrain_align.evaluation.plot_common import PlotInputError, _figure, _is_number, _save


def plot_precision_bars(results, path, metrics=("P@1", "P@5"), title=None, percent=None):
    """Write :func:`draw_precision_bars` as a PNG at ``path`` and return ``path``.

    Example
    -------
    >>> import tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "p.png")
    >>> res = {"skipgram": {"NN": {"P@1": 0.2, "P@5": 0.4}, "CSLS": {"P@1": 0.3, "P@5": 0.5}}}
    >>> plot_precision_bars(res, out) == out
    True
    """
    fig = draw_precision_bars(results, metrics=metrics, title=title, percent=percent)
    return _save(fig, path)


def draw_precision_bars(results, metrics=("P@1", "P@5"), title=None, percent=None):
    """Grouped bar chart of P@k per configuration and condition.

    Arguments
    ---------
    results : dict
        ``{config: {condition: {"P@1": value, "P@5": value}}}``; a missing
        metric leaves a gap. Values are fractions (0-1) or percentages.
    metrics : list of str
        One panel per metric.
    title : str, optional
    percent : bool, optional
        Show values as percentages; default: when every value is <= 1.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per metric; in each, one bar container per condition with
        one bar per configuration (height NaN for a gap).

    Example
    -------
    >>> fig = draw_precision_bars({"skipgram": {"NN": {"P@1": 0.2}, "CSLS": {"P@1": 0.3}}},
    ...                           metrics=["P@1"])
    >>> [round(float(c[0].get_height()), 6) for c in fig.axes[0].containers]
    [20.0, 30.0]
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
    return fig
