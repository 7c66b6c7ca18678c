#!/usr/bin/env python3
"""Train Speech2Vec on spoken Bible word segments and export word vectors.

    python train.py hparams/speech2vec_fast.yaml --data_folder=data/bible
    python train.py hparams/speech2vec.yaml --train_csv=my/train.csv --valid_csv=my/valid.csv

Manifests come from ``recipes/Bible/bible_prepare.py``
(``<data_folder>/speech/{train,valid,test}.csv``); any segment manifest works.
Rerunning resumes from the last checkpoint; features are cached. All logic lives
in :mod:`speechbrain_align.speech.speech2vec_brain`.
"""
import sys

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml

from speechbrain_align.speech.speech2vec_brain import run_speech2vec

if __name__ == "__main__":
    hparams_file, run_opts, overrides = sb.parse_arguments(sys.argv[1:])
    with open(hparams_file, encoding="utf-8") as fin:
        hparams = load_hyperpyyaml(fin, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    summary = run_speech2vec(hparams, run_opts)
    print(summary)
