#!/usr/bin/env python3
"""Train skip-gram text word vectors on a Bible (SWORD module) or any UTF-8 text.

    python train.py hparams/skipgram.yaml
    python train.py hparams/skipgram.yaml --sword_module=spaRV1909eb --dim=100

Writes ``<output_folder>/vectors.vec`` (+ ``.counts.tsv``) and ``summary.json``.
All logic lives in :mod:`speechbrain_align.text.skipgram`.
"""
import sys

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml

from speechbrain_align.text.skipgram import run_from_hparams

if __name__ == "__main__":
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    summary = run_from_hparams(hparams)
    print(summary)
