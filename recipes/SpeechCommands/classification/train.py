#!/usr/bin/env python3
"""Supervised spoken-word classification on Speech Commands (or any isolated-word folder).

The word list is the folders of ``--data_folder`` (or ``words`` in the YAML);
speakers are disjoint across train/valid/test (a fixed hash split, or fold
``--fold`` of ``--n_folds``). Three models:

    python train.py hparams/ecapa.yaml  --data_folder /path/to/speech_commands_v0.02_test
    python train.py hparams/bilstm.yaml --data_folder /path/to/speech_commands_v0.02_test
    python train.py hparams/mlp.yaml    --data_folder /path/to/speech_commands_v0.02_test

Writes <output_folder>/test_results.json (test accuracy, split sizes),
confusion.json and confusion_matrix.png, train_log.txt, and the best model as
an EncoderClassifier folder (<output_folder>/inference); resumes from the
checkpoints in <output_folder>/save. run_folds.py runs the fold protocol.
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
    if str(run_opts.get("device") or "cpu").startswith("cpu"):  # device is None unless given
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
            "words": hparams.get("words"),
            "valid_fraction": hparams["valid_fraction"],
            "test_fraction": hparams["test_fraction"],
            "n_folds": hparams.get("n_folds"),
            "fold": hparams.get("fold"),
        },
    )
    results = run_classification(hparams_file, run_opts, overrides)
    print(
        f"test accuracy {results['test_accuracy']:.4f} ({results['n_classes']} classes, "
        f"split sizes {results['split_sizes']})"
    )


if __name__ == "__main__":
    sys.exit(run_main(main))
