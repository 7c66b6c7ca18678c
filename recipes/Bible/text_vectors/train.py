#!/usr/bin/env python3
"""Train skip-gram text word vectors on a Bible (SWORD module) or any UTF-8 text.

    python train.py hparams/skipgram.yaml
    python train.py hparams/skipgram.yaml --sword_module=spaRV1909eb --dim=100

Writes ``<vectors>`` (default ``<output_folder>/vectors.vec``, + ``.counts.tsv``)
and ``<output_folder>/summary.json``. A rerun with the same corpus and settings
reuses the vectors. The experiment (``recipes/Bible/experiment``) runs this
recipe once per text corpus with ``skip_prep=True``.
"""
import os
import sys
import time

import speechbrain as sb

from speechbrain_align.dataio.text import prepare_text_corpus
from speechbrain_align.dataio.vectors import read_vec, write_vec
from speechbrain_align.text.skipgram import nearest_neighbours, train_skipgram
from speechbrain_align.utils.errors import load_recipe_hparams, run_main
from speechbrain_align.utils.files import already_prepared, mark_prepared, write_json

SKIPGRAM_KEYS = ("dim", "window", "min_count", "epochs", "negative", "alpha", "sample",
                 "max_vocab", "runs", "seed")


def train_vectors(hparams):
    """Prepare the corpus if asked, train (or reuse) the vectors, write the summary."""
    corpus = hparams["corpus"]
    if not hparams.get("skip_prep", False):
        prepare_text_corpus(corpus, sword_module=hparams.get("sword_module"),
                            text_file=hparams.get("text_file"), books=hparams.get("books"))
    options = {key: hparams[key] for key in SKIPGRAM_KEYS}
    options["workers"] = hparams["threads"]
    stamp = dict(options, corpus=os.fspath(corpus), size=os.path.getsize(corpus))
    start = time.time()
    if already_prepared([hparams["vectors"]], stamp):
        emb, reused = read_vec(hparams["vectors"]), True
    else:
        emb, reused = train_skipgram(corpus, **options), False
        write_vec(emb, hparams["vectors"])
        mark_prepared([hparams["vectors"]], stamp)
    summary = {
        "corpus": os.fspath(corpus),
        "vectors": os.fspath(hparams["vectors"]),
        "words": len(emb),
        "dim": emb.dim,
        "tokens_in_vocab": int(emb.counts.sum()),
        "train_seconds": None if reused else round(time.time() - start, 1),
        "reused": reused,
        "threads": hparams["threads"],
        "neighbours": {
            w: [n for n, _ in nearest_neighbours(emb, w)]
            for w in hparams.get("probe_words") or [] if w in emb.index
        },
    }
    write_json(os.path.join(hparams["output_folder"], "summary.json"), summary)
    return summary


def main(argv):
    """Parse ``hparams_file [--key=value ...]`` and train the vectors."""
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    hparams = load_recipe_hparams(hparams_file, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    summary = train_vectors(hparams)
    print(summary)


if __name__ == "__main__":
    sys.exit(run_main(main))
