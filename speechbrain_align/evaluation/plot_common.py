"""Shared pieces of the figures: the input error, the Agg figure and the atomic PNG save."""

import os

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


def _is_number(value):
    return isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
