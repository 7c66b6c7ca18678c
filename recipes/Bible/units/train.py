#!/usr/bin/env python3
"""Unit skip-gram on spoken Bible word segments, then its diagnostics.

    python train.py hparams/units.yaml --data_folder=data/bible
    python train.py hparams/units.yaml --feature_source=results/speech2vec/1234/vectors/segments.npz

Segments are quantised into ``n_units`` k-means units (log-Mel images or any
segment-vector file) and a skip-gram is trained over the unit-id sequences.
Outputs (in ``<output_folder>/units``): ``units.vec``, ``assignment.csv``,
``unit_table.csv``, ``summary.json``; and ``<output_folder>/diagnostics.{json,md}``.
A rerun with the same options and inputs skips the work. All logic lives in
:mod:`speechbrain_align.speech.units` and :mod:`speechbrain_align.speech.diagnostics`.
"""
import os
import sys

import speechbrain as sb
import torch

from speechbrain_align.dataio.manifest import ManifestError
from speechbrain_align.utils.errors import load_recipe_hparams, run_main


def main(argv):
    """Parse ``hparams_file [--key=value ...]``, train the units, run the diagnostics."""
    torch.set_num_threads(1)
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    hparams = load_recipe_hparams(hparams_file, overrides)
    if not os.path.exists(hparams["train_csv"]):
        raise ManifestError(
            f"{hparams['train_csv']}: manifest not found; run recipes/Bible/bible_prepare.py "
            "first or pass --train_csv"
        )
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    paths = hparams["unit_skipgram"](hparams["train_csv"], hparams["units_folder"])
    print(paths)
    if hparams["run_diagnostics"]:
        from speechbrain_align.speech.diagnostics import markdown_table

        report = hparams["diagnostics"](
            paths["vectors"], hparams["train_csv"], hparams["diagnostics_file"],
            assignment=paths["assignment"], name="unit skip-gram",
        )
        print(markdown_table(report))


if __name__ == "__main__":
    sys.exit(run_main(main))
