#!/usr/bin/env python3
"""Train Speech2Vec on LibriSpeech word segments and export word vectors.

    python train.py hparams/speech2vec.yaml --data_folder=data/librispeech
    python train.py hparams/speech2vec.yaml --train_csv=my/train.csv --valid_csv=my/valid.csv

Unless ``skip_prep``, manifests are first made by ``recipes/LibriSpeech/librispeech_prepare.py``
(``prepare_librispeech``); any segment manifest works.
Rerunning resumes from the last checkpoint; features are cached. All logic lives
in :mod:`speechbrain_align.speech.speech2vec_brain`.
"""
import os
import sys

import speechbrain as sb

from speechbrain_align.speech.speech2vec_brain import run_speech2vec
from speechbrain_align.utils.errors import load_recipe_hparams, run_main

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from librispeech_prepare import prepare_librispeech  # noqa: E402


def main(argv):
    """Parse ``hparams_file [--key=value ...]``, prepare, train and export."""
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)  # torchrun: join the process group
    hparams = load_recipe_hparams(hparams_file, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    if not hparams["skip_prep"]:
        sb.utils.distributed.run_on_main(
            prepare_librispeech,
            kwargs={
                "data_folder": hparams["data_folder"],
                "save_folder": hparams["prepared_folder"],
                "alignments_folder": hparams["alignments_folder"],
                "tr_splits": hparams["train_splits"],
                "dev_splits": hparams["dev_splits"],
                "te_splits": hparams["test_splits"],
            },
        )
    summary = run_speech2vec(hparams, run_opts)
    print(summary)


if __name__ == "__main__":
    sys.exit(run_main(main))
