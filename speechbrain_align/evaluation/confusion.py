"""Confusion matrices of a word classifier: counts, a JSON file and a plot.

Rows are the true words and columns the predicted words, in the order of
``classes``. :func:`write_confusion` is what the classification recipes call
after testing; :func:`plot_confusion_matrix` draws row-normalised cells (the
share of each true word given each answer) with the counts written in them.
"""

import json
import os

import numpy as np

from speechbrain_align.evaluation.plots import PlotInputError, _figure, _save
from speechbrain_align.utils.files import write_json

MAX_PLOTTED_CLASSES = 40


def confusion_matrix(pairs, classes):
    """Count ``(predicted, true)`` pairs into a ``(n_classes, n_classes)`` matrix.

    Arguments
    ---------
    pairs : iterable of (str, str)
        ``(predicted word, true word)`` per test token.
    classes : list of str
        Row/column order; a word outside it raises ``ValueError``.

    Returns
    -------
    numpy.ndarray of int64
        ``matrix[i, j]`` = tokens of true word ``classes[i]`` predicted as ``classes[j]``.

    Example
    -------
    >>> confusion_matrix([("a", "a"), ("b", "a"), ("b", "b")], ["a", "b"]).tolist()
    [[1, 1], [0, 1]]
    """
    index = {word: i for i, word in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for predicted, true in pairs:
        if predicted not in index or true not in index:
            raise ValueError(f"word {predicted!r} or {true!r} is not one of the {len(classes)} classes")
        matrix[index[true], index[predicted]] += 1
    return matrix


def plot_confusion_matrix(matrix, classes, path, title=None):
    """Draw a confusion matrix (true rows, predicted columns) as a PNG.

    Cells are shaded by the row-normalised share and labelled with counts.

    Arguments
    ---------
    matrix : array-like, ``(n, n)``
    classes : list of str
    path : str
        Output ``.png`` (written atomically).
    title : str, optional

    Returns
    -------
    str : ``path``.
    """
    matrix = np.asarray(matrix)
    n = len(classes)
    if matrix.shape != (n, n) or n == 0:
        raise PlotInputError(f"{path}: confusion matrix of shape {matrix.shape} for {n} classes")
    totals = matrix.sum(axis=1, keepdims=True)
    shares = matrix / np.maximum(totals, 1)
    side = max(4.0, 0.45 * n + 2.0)
    fig = _figure(side + 1.0, side)
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true word")
    ax.set_xticks(range(n), labels=classes, rotation=90 if n > 10 else 45, ha="center")
    ax.set_yticks(range(n), labels=classes)
    ax.set_xlabel("predicted word")
    ax.set_ylabel("true word")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    colour = "white" if shares[i, j] > 0.5 else "black"
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8, color=colour)
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(title or f"accuracy {100 * accuracy:.1f} % on {matrix.sum()} tokens")
    return _save(fig, path)


def write_confusion(pairs, classes, folder, title=None):
    """Write ``confusion.json`` and (for up to 40 classes) ``confusion_matrix.png``.

    Arguments
    ---------
    pairs : iterable of (str, str)
        ``(predicted word, true word)`` per test token.
    classes : list of str
    folder : str
        Output folder (next to ``test_results.json``).
    title : str, optional
        Plot title.

    Returns
    -------
    dict
        ``{"json": path, "plot": path or None}``.

    Example
    -------
    >>> import tempfile
    >>> out = write_confusion([("a", "a"), ("a", "b")], ["a", "b"], tempfile.mkdtemp())
    >>> json.load(open(out["json"]))["matrix"]
    [[1, 0], [1, 0]]
    """
    matrix = confusion_matrix(pairs, classes)
    json_path = os.path.join(folder, "confusion.json")
    write_json(json_path, {"classes": list(classes), "rows": "true word", "columns": "predicted word",
                           "matrix": matrix.tolist()})
    plot = None
    if len(classes) <= MAX_PLOTTED_CLASSES:
        plot = plot_confusion_matrix(matrix, classes, os.path.join(folder, "confusion_matrix.png"), title)
    return {"json": json_path, "plot": plot}


def read_confusion(path):
    """``(classes, matrix)`` from a ``confusion.json`` file written by :func:`write_confusion`."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    try:
        return list(data["classes"]), np.asarray(data["matrix"], dtype=np.int64)
    except (KeyError, TypeError) as err:
        raise PlotInputError(f"{path}: not a confusion file ({err})") from None
