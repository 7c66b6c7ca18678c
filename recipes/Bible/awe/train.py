#!/usr/bin/env python3
"""Unsupervised speaker-invariant acoustic word embeddings for the spoken Bible corpus.

    python train.py hparams/awe.yaml --data_folder=data/bible

Writes, in ``<output_folder>``: ``segments.npz`` (one unit-length vector per
segment of every manifest, words = segment IDs: the unit skip-gram's
``--feature_source``), ``n_units.json`` (K chosen without labels),
``awe_results.json`` (same-different AP by pair kind, purity, inverse purity
and K for each embedding; stage times), ``awe_ap.png``. A rerun reuses the
finished steps; a killed run resumes after its last LDA round. All logic
lives in :mod:`speechbrain_align.speech.awe_run`.
"""
import json
import sys

import speechbrain as sb
import torch

from speechbrain_align.speech.awe_run import run_awe
from speechbrain_align.utils.errors import load_recipe_hparams, run_main


def main(argv):
    """Parse ``hparams_file [--key=value ...]`` and run the AWE stage."""
    torch.set_num_threads(1)
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)  # torchrun: join the process group
    hparams = load_recipe_hparams(hparams_file, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    summary = run_awe(hparams, run_opts)
    print(json.dumps({k: summary[k] for k in ("acoustic_word_embeddings", "n_units", "seconds")},
                     indent=1))


if __name__ == "__main__":
    sys.exit(run_main(main))
