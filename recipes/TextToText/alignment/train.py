#!/usr/bin/env python3
"""Align two word-embedding spaces (MUSE adversarial, vecmap, Gromov-Wasserstein or supervised).

Usage::

    python train.py hparams/muse.yaml --src_vec=A.vec --tgt_vec=B.vec \
        [--dico_eval=pairs.txt] [--dico_train=train.txt] [--restarts=2] \
        --output_folder=results/x

Writes ``mapping.npy`` (apply to the normalised source vectors:
``normalize_embeddings(src, log["normalize"]) @ W.T``), ``log.json`` and,
with an evaluation dictionary, ``results.json`` with P@1/P@5 under NN and
CSLS retrieval. Adversarial training also writes ``train_log.txt`` and
resumable checkpoints under ``save/``. With ``restarts`` R > 1, an
unsupervised method runs from seeds ``seed .. seed+R-1`` (the YAML reloaded
for each, so every run builds its objects afresh; runs after the first in
``restart<k>/``) and the mapping with the highest unsupervised criterion is
kept: a label-free guard against a failed run.

The experiment (``recipes/Bible/experiment``) runs this recipe through
:func:`prepare` and :func:`run`, with the same YAML files and its overrides.
"""

import logging
import os
import sys

import speechbrain as sb
import yaml

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
from speechbrain_align.utils.errors import HparamsError, load_recipe_hparams, run_main
from speechbrain_align.utils.files import write_json

logger = logging.getLogger(__name__)


def _as_dict(overrides):
    """Overrides as a dict (``sb.parse_arguments`` gives a YAML string)."""
    if isinstance(overrides, dict):
        return dict(overrides)
    try:
        return dict(yaml.safe_load(overrides or "") or {})
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise HparamsError(f"overrides: plain values only ({problem})") from None


def prepare(hparams_file, overrides=None):
    """Load the YAML with ``overrides`` and every input; check them all.

    Nothing is written: a bad vector file, dictionary or option raises
    :class:`AlignmentError` (or ``HparamsError``) naming it first. Returns
    a dict for :func:`run`.
    """
    overrides = _as_dict(overrides)
    first = load_recipe_hparams(hparams_file, overrides)
    src, tgt = load_vector_pair(first["src_vec"], first["tgt_vec"], first["max_vocab"])
    # the modules in the YAML are sized by emb_dim: set it from the files
    overrides["emb_dim"] = src.dim
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
    check_options(hparams, (src.vectors.shape, tgt.vectors.shape), names)
    return {"hparams_file": hparams_file, "overrides": overrides, "hparams": hparams,
            "src": src, "tgt": tgt, "train_pairs": train_pairs, "test_pairs": test_pairs,
            "names": names}


def run(job, run_opts=None):
    """Align (with restarts), write ``mapping.npy``, ``log.json`` and results; return both."""
    hparams, src, tgt = job["hparams"], job["src"], job["tgt"]
    method, out = hparams["method"], hparams["output_folder"]
    os.makedirs(out, exist_ok=True)
    restarts = 1 if method == "supervised" else max(1, int(hparams.get("restarts", 1)))
    w = log = None
    tried = []
    for k in range(restarts):
        hp = hparams
        if k:  # a fresh YAML: objects built after seed_everything(seed + k)
            hp = load_recipe_hparams(job["hparams_file"], dict(
                job["overrides"], seed=hparams["seed"] + k,
                output_folder=os.path.join(out, f"restart{k}")))
        w_k, log_k = align(src, tgt, hp, train_pairs=job["train_pairs"],
                           names=job["names"], run_opts=run_opts)
        tried.append({"seed": hp["seed"], "criterion": log_k["criterion"]})
        if restarts > 1:
            logger.info("%s restart %d (seed %d): criterion %.4f", method, k, hp["seed"],
                        log_k["criterion"])
        if log is None or log_k["criterion"] > log["criterion"]:
            w, log = w_k, log_k
    if method != "supervised":
        log["restarts"] = tried
    save_mapping(w, os.path.join(out, "mapping.npy"))
    log.update(src_vec=hparams["src_vec"], tgt_vec=hparams["tgt_vec"],
               src_words=len(src), tgt_words=len(tgt))
    if job["test_pairs"] is not None:
        results = evaluate_mapping(
            src.vectors, tgt.vectors, w, job["test_pairs"], hparams["normalize"],
            ks=(1, 5), csls_k=hparams["csls_k"],
        )
        results.update(test_pairs=int(len(job["test_pairs"])), method=method,
                       dico_eval=hparams["dico_eval"])
        write_json(os.path.join(out, "results.json"), results)
        log["results"] = results
        logger.info("P@1 NN %.4f CSLS %.4f on %d pairs", results["nn_p@1"],
                    results["csls_p@1"], len(job["test_pairs"]))
    write_json(os.path.join(out, "log.json"), log)
    return w, log


def main(argv):
    """Parse ``hparams_file [--key=value ...]``, check every input, then align.

    Vectors, dictionaries and options are all checked before the results
    folder is touched, so a failed run leaves an existing folder as it was.
    """
    hparams_file, run_opts, overrides = sb.parse_arguments(argv)
    job = prepare(hparams_file, overrides)
    sb.create_experiment_directory(
        experiment_directory=job["hparams"]["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=job["overrides"],
    )
    w, log = run(job, run_opts)
    if "results" in log:
        res = log["results"]
        print(f"P@1 NN {res['nn_p@1']:.4f}  CSLS {res['csls_p@1']:.4f}  "
              f"({res['test_pairs']} test pairs)")
    print(f"criterion {log['criterion']:.4f}; wrote {job['hparams']['output_folder']}/mapping.npy")


if __name__ == "__main__":
    sys.exit(run_main(main))
