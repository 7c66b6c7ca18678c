#!/usr/bin/env python3
"""Supervised word classification on Speech Commands (speaker-disjoint split).

Baselines for the alignment experiments: a last-step BiLSTM over Fbank frames
(the supervised upper bound) and an MLP over 32 x 32 log-Mel images.

    python train.py hparams/bilstm.yaml --data_folder /path/to/speech_commands_v0.02_test
    python train.py hparams/mlp.yaml --data_folder /path/to/speech_commands_v0.02_test

Writes <output_folder>/test_results.json (test accuracy, split sizes) and
train_log.txt; resumes from the checkpoints in <output_folder>/save.
"""

import os
import sys

import speechbrain as sb
import torch

from speechbrain_align.speech.classifier_brain import run_classification
from speechbrain_align.utils.errors import load_recipe_hparams, run_main

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from speech_commands_prepare import prepare_speech_commands  # noqa: E402


def main(argv):
    """Parse ``hparams_file [--key=value ...]``, prepare, train, validate and test."""
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    if run_opts.get("device", "cpu") == "cpu":
        torch.set_num_threads(int(os.environ.get("SB_ALIGN_THREADS", "1")))
    hparams = load_recipe_hparams(hparams_file, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    sb.utils.distributed.run_on_main(
        prepare_speech_commands,
        kwargs={
            "data_folder": hparams["data_folder"],
            "save_folder": hparams["manifest_folder"],
            "valid_fraction": hparams["valid_fraction"],
            "test_fraction": hparams["test_fraction"],
        },
    )
    results = run_classification(hparams_file, run_opts, overrides)
    print(
        f"test accuracy {results['test_accuracy']:.4f} ({results['n_classes']} classes, "
        f"split sizes {results['split_sizes']})"
    )


if __name__ == "__main__":
    sys.exit(run_main(main))
