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

The code lives in :mod:`.plot_common`, :mod:`.plot_curves`,
:mod:`.plot_projection` and :mod:`.plot_bars`; every name stays importable
from here.
"""

from speechbrain_align.evaluation.plot_bars import draw_precision_bars, plot_precision_bars
from speechbrain_align.evaluation.plot_common import PlotInputError, _figure, _is_number, _save
from speechbrain_align.evaluation.plot_curves import (
    draw_training_curves,
    load_curves,
    plot_training_curves,
    read_train_log,
)
from speechbrain_align.evaluation.plot_projection import (
    draw_alignment_projection,
    pca_2d,
    plot_alignment_projection,
)

__all__ = [
    "PlotInputError",
    "draw_alignment_projection",
    "draw_precision_bars",
    "draw_training_curves",
    "load_curves",
    "pca_2d",
    "plot_alignment_projection",
    "plot_precision_bars",
    "plot_training_curves",
    "read_train_log",
]
