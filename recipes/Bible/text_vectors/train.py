#!/usr/bin/env python3
"""Train skip-gram text word vectors on a Bible (SWORD module) or any UTF-8 text.

    python train.py hparams/skipgram.yaml
    python train.py hparams/skipgram.yaml --sword_module=spaRV1909eb --dim=100

Writes ``<output_folder>/vectors.vec`` (+ ``.counts.tsv``) and ``summary.json``.
All logic lives in :mod:`speechbrain_align.text.skipgram`.
"""
import sys

import speechbrain as sb

from speechbrain_align.text.skipgram import run_from_hparams
from speechbrain_align.utils.errors import load_recipe_hparams, run_main


def main(argv):
    """Parse ``hparams_file [--key=value ...]`` and train the vectors."""
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    hparams = load_recipe_hparams(hparams_file, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    summary = run_from_hparams(hparams)
    print(summary)


if __name__ == "__main__":
    sys.exit(run_main(main))
