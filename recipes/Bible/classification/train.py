#!/usr/bin/env python3
"""Supervised word classification on the synthetic spoken Bible corpus.

The supervised reference for the alignment experiments: classify each spoken
word token among the words with at least ``min_train_tokens`` train tokens,
with a last-step BiLSTM over Fbank frames or an MLP over 32 x 32 log-Mel images.
Speakers are disjoint across train/valid/test.

    python ../bible_prepare.py ...        # writes <data_folder>/speech/{train,valid,test}.csv
    python train.py hparams/bilstm.yaml --data_folder=data/bible
    python train.py hparams/mlp.yaml --data_folder=data/bible --min_train_tokens=50

Writes <output_folder>/test_results.json (accuracy, number of classes, kept and
dropped tokens per split) and train_log.txt; resumes from <output_folder>/save.
"""

import os
import sys

import speechbrain as sb
import torch

from speechbrain_align.dataio.manifest import ManifestError
from speechbrain_align.speech.classifier_brain import run_classification
from speechbrain_align.utils.errors import load_recipe_hparams, run_main


def main(argv):
    """Parse ``hparams_file [--key=value ...]``, train, validate and test."""
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    if str(run_opts.get("device") or "cpu").startswith("cpu"):  # device is None unless given
        torch.set_num_threads(int(os.environ.get("SB_ALIGN_THREADS", "1")))
    hparams = load_recipe_hparams(hparams_file, overrides)
    missing = [hparams[k] for k in ("train_csv", "valid_csv", "test_csv") if not os.path.isfile(hparams[k])]
    if missing:
        raise ManifestError(
            f"manifests not found: {missing}; build the corpus first "
            "(recipes/Bible/bible_prepare.py) or pass --train_csv/--valid_csv/--test_csv"
        )
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    results = run_classification(hparams_file, run_opts, overrides)
    print(
        f"test accuracy {results['test_accuracy']:.4f} over {results['n_classes']} words with "
        f">= {results['min_train_tokens']} train tokens (split sizes {results['split_sizes']}; "
        f"test tokens of other words: {results['splits']['test']['tokens_unseen_in_train']} unseen, "
        f"{results['splits']['test']['tokens_rare_in_train']} rare)"
    )


if __name__ == "__main__":
    sys.exit(run_main(main))
