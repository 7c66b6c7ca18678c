#!/usr/bin/env python3
"""Align two word-embedding spaces (MUSE adversarial, vecmap or supervised).

Usage::

    python train.py hparams/muse.yaml --src_vec=A.vec --tgt_vec=B.vec \
        [--dico_eval=pairs.txt] [--dico_train=train.txt] --output_folder=results/x

Writes ``mapping.npy`` (apply to the normalised source vectors:
``normalize_embeddings(src, log["normalize"]) @ W.T``), ``log.json`` and,
with an evaluation dictionary, ``results.json`` with P@1/P@5 under NN and
CSLS retrieval. Adversarial training also writes ``train_log.txt`` and
resumable checkpoints under ``save/``.
"""

import logging
import os
import sys

import speechbrain as sb

from speechbrain_align.alignment.mappings import (
    AlignmentError,
    dictionary_indices,
    evaluate_mapping,
    load_vector_pair,
    save_mapping,
)
from speechbrain_align.alignment.pipeline import align, check_options
from speechbrain_align.dataio.dictionaries import (
    filter_to_vocabularies,
    read_muse_dictionary,
    split_dictionary,
)
from speechbrain_align.utils.errors import load_recipe_hparams, run_main
from speechbrain_align.utils.files import write_json

logger = logging.getLogger(__name__)


def main(argv):
    """Parse ``hparams_file [--key=value ...]``, check every input, then align.

    Vectors, dictionaries and options are all checked before the results
    folder is touched, so a failed run leaves an existing folder as it was.
    """
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    first = load_recipe_hparams(hparams_file, overrides)
    src, tgt = load_vector_pair(first["src_vec"], first["tgt_vec"], first["max_vocab"])
    # the modules in the YAML are sized by emb_dim: set it from the files
    overrides = (overrides or "") + f"\nemb_dim: {src.dim}\n"
    hparams = load_recipe_hparams(hparams_file, overrides)
    train_pairs = test_pairs = None

    def indices(pairs, name):
        return dictionary_indices(pairs, src.words, tgt.words, name)

    if hparams.get("dico_eval"):
        name = hparams["dico_eval"]
        if hparams.get("dico_train"):
            train_pairs = indices(read_muse_dictionary(hparams["dico_train"]),
                                  hparams["dico_train"])
            test_pairs = indices(read_muse_dictionary(name), name)
        else:
            # split the usable pairs by source word (no source in both parts)
            usable = filter_to_vocabularies(read_muse_dictionary(name), src.index, tgt.index, name)
            train, test = split_dictionary(
                usable, hparams["dico_test_fraction"], hparams["dico_split_seed"]
            )
            train_pairs, test_pairs = indices(train, name), indices(test, name)
    elif hparams.get("dico_train"):
        train_pairs = indices(read_muse_dictionary(hparams["dico_train"]), hparams["dico_train"])
    method = hparams["method"]
    if method == "supervised" and train_pairs is None:
        raise AlignmentError(f"{hparams_file}: method supervised needs dico_train or dico_eval")
    names = (hparams["src_vec"], hparams["tgt_vec"])
    check_options(method, hparams, (src.vectors.shape, tgt.vectors.shape), names)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    w, log = align(
        src, tgt, method, hparams,
        train_pairs=train_pairs if method == "supervised" else None,
        seed=hparams["seed"], output_folder=hparams["output_folder"],
        names=names, run_opts=run_opts,
    )
    save_mapping(w, os.path.join(hparams["output_folder"], "mapping.npy"))
    log.update(src_vec=hparams["src_vec"], tgt_vec=hparams["tgt_vec"],
               src_words=len(src), tgt_words=len(tgt))
    if test_pairs is not None:
        results = evaluate_mapping(
            src.vectors, tgt.vectors, w, test_pairs, hparams["normalize"],
            ks=(1, 5), csls_k=hparams["csls_k"],
        )
        results.update(test_pairs=int(len(test_pairs)), method=method,
                       dico_eval=hparams["dico_eval"])
        write_json(os.path.join(hparams["output_folder"], "results.json"), results)
        log["results"] = results
        logger.info("P@1 NN %.4f CSLS %.4f on %d pairs", results["nn_p@1"],
                    results["csls_p@1"], len(test_pairs))
        print(f"P@1 NN {results['nn_p@1']:.4f}  CSLS {results['csls_p@1']:.4f}  "
              f"({len(test_pairs)} test pairs)")
    write_json(os.path.join(hparams["output_folder"], "log.json"), log)
    print(f"criterion {log['criterion']:.4f}; wrote {hparams['output_folder']}/mapping.npy")


if __name__ == "__main__":
    sys.exit(run_main(main))
