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

from speechbrain_align.speech.speech2vec_brain import run_speech2vec
from speechbrain_align.utils.errors import load_recipe_hparams, run_main


def main(argv):
    """Parse ``hparams_file [--key=value ...]``, train and export."""
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)  # torchrun: join the process group
    hparams = load_recipe_hparams(hparams_file, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    summary = run_speech2vec(hparams, run_opts)
    print(summary)


if __name__ == "__main__":
    sys.exit(run_main(main))
