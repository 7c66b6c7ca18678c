#!/usr/bin/env python3
"""Stability of unsupervised alignment over seeds, against supervised A*.

Builds two text embedding spaces (skip-gram on two disjoint halves of the
World English Bible, alternate verses; or WEB vs KJV; or an easy synthetic
rotated pair) or takes the oracle row T of a finished experiment and its
text space (``--corpus oracle``), then:

* A*: Procrustes on half of the identity dictionary of the shared words
  among the ``--dico_top`` most frequent (split by source word), P@1 on the
  other half;
* for each seed and each unsupervised pipeline (adversarial + refinement,
  vecmap + refinement): P@1 (NN and CSLS) on the same test half, wall time.

A run succeeds when its CSLS P@1 reaches ``--success`` (0.8) times A*'s.
Writes ``stability.json`` and ``stability.md`` to ``--out``. Each finished
run is kept in ``stability_runs.json`` with a fingerprint of its inputs
(both spaces, the method's settings, the test pairs); a rerun with the same
inputs skips it.

Every run is the alignment recipe's YAML (``recipes/TextToText/alignment``)
with overrides. With ``--corpus oracle`` the experiment's own (its
``alignment_hparams`` and ``alignment_overrides`` in ``--hparams``) are used, A* is trained on every
shared word (as the experiment's T*) and P@1 is measured on the 500 most
frequent T types, the experiment's top-500 type column.

Example::

    python benchmarks/alignment_stability.py --corpus web-halves --out results/stability \
        --seeds 10 --vocab 5000 --dim 50
    python benchmarks/alignment_stability.py --corpus oracle --experiment results/bible \
        --hparams recipes/Bible/experiment/hparams/default.yaml --seeds 10 --success 0.9
"""

import argparse
import hashlib
import json
import logging
import os
import sys
import tempfile
import time

import numpy as np
import torch

from speechbrain_align.alignment.mappings import dictionary_indices, evaluate_mapping
from speechbrain_align.alignment.pipeline import align
from speechbrain_align.dataio.dictionaries import split_dictionary
from speechbrain_align.dataio.vectors import load_binary, save_binary
from speechbrain_align.utils.errors import load_recipe_hparams
from speechbrain_align.utils.files import atomic_write, write_json

logger = logging.getLogger("alignment_stability")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE_HPARAMS = {m: f"recipes/TextToText/alignment/hparams/{f}.yaml" for m, f in
                  (("adversarial", "muse"), ("vecmap", "vecmap"), ("supervised", "supervised"))}
# Overrides of the recipe's YAMLs for the text corpora (CPU, a few thousand words)
ADVERSARIAL = {"n_epochs": 6, "epoch_size": 500, "max_rank": 1000, "dis_hidden": 256}
VECMAP = {"init_vocab": 2000, "vocab_cutoff": 2000, "stochastic_interval": 5}


def aligned(src, tgt, files, method, overrides, seed, train_pairs=None):
    """One run of ``method``: the recipe YAML ``files[method]`` with ``overrides``
    (checkpoints in a temporary folder)."""
    with tempfile.TemporaryDirectory() as tmp:
        hp = load_recipe_hparams(os.path.join(REPO, files[method]), dict(
            overrides, src_vec="-", tgt_vec="-", emb_dim=src.dim, seed=seed, output_folder=tmp))
        return align(src, tgt, hp, train_pairs=train_pairs)


def fingerprint(src, tgt, method, settings, test_pairs):
    """A digest of what a run's figures depend on: both spaces, the method's
    settings (its YAML and overrides) and the test pairs it is scored on."""
    digest = hashlib.sha1()
    digest.update(np.ascontiguousarray(test_pairs, dtype=np.int64).tobytes())
    for space in (src, tgt):
        digest.update("\n".join(space.words).encode("utf-8"))
        digest.update(np.ascontiguousarray(space.vectors, dtype=np.float32).tobytes())
    digest.update(json.dumps([method, settings], sort_keys=True, default=str).encode("utf-8"))
    return digest.hexdigest()


def finished_runs(path):
    """Runs already in ``stability_runs.json``, keyed by (fingerprint, seed)."""
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        runs = json.load(handle)
    return {(r["fingerprint"], r["seed"]): r for r in runs if "fingerprint" in r}


def bible_halves(module_a, module_b=None):
    """Verse texts of two disjoint halves (alternate verses) or of two modules."""
    from speechbrain_align.dataio.sword import read_sword_verses

    verses = [text for _, text in read_sword_verses(module_a)]
    if module_b is None:
        return verses[0::2], verses[1::2]
    return verses, [text for _, text in read_sword_verses(module_b)]


def skipgram_spaces(corpus, out, vocab, dim, seed=1234):
    """The two embedding spaces of ``corpus`` (cached as .npz under ``out``)."""
    paths = [os.path.join(out, f"{corpus}_{side}_{dim}d.npz") for side in ("a", "b")]
    if all(os.path.exists(p) for p in paths):
        return [load_binary(p).most_frequent(vocab) for p in paths]
    from speechbrain_align.dataio.tokenize import tokenize
    from speechbrain_align.text.skipgram import train_skipgram_on_sentences

    if corpus == "web-halves":
        texts = bible_halves("engWEB2015eb")
    elif corpus == "web-kjv":
        texts = bible_halves("engWEB2015eb", "engKJV2006eb")
    else:
        raise ValueError(f"unknown corpus {corpus!r}")
    spaces = []
    for side, lines, path in zip("ab", texts, paths):
        sentences = [tokenize(line) for line in lines]
        start = time.time()
        emb = train_skipgram_on_sentences(sentences, dim=dim, workers=1, seed=seed,
                                          source=f"{corpus}:{side}")
        logger.info("%s side %s: %d words, %.0f s", corpus, side, len(emb), time.time() - start)
        save_binary(emb, path)
        spaces.append(emb.most_frequent(vocab))
    return spaces


def oracle_spaces(experiment, condition, hparams_file):
    """The oracle T, a text space of a finished experiment, and its alignment
    YAMLs and overrides per method."""
    from hyperpyyaml import load_hyperpyyaml

    from speechbrain_align.dataio.vectors import load_embeddings

    with open(hparams_file, encoding="utf-8") as handle:
        hp = load_hyperpyyaml(handle)
    src = load_embeddings(os.path.join(experiment, "spaces", "T.vec")).sorted_by_count()
    tgt = load_embeddings(os.path.join(experiment, "text_vectors", f"{condition}.vec"))
    return (src, tgt.sorted_by_count(), dict(hp["alignment_hparams"]),
            {m: dict(hp["alignment_overrides"][m] or {}) for m in RECIPE_HPARAMS})


def identity_pairs(src, tgt):
    """Index pairs of the words the two vocabularies share."""
    return np.array([[i, tgt.index[w]] for i, w in enumerate(src.words) if w in tgt.index],
                    dtype=np.int64).reshape(-1, 2)


def restart_policy(runs, restarts):
    """Score "keep the best criterion of ``restarts`` successive seeds" on single runs.

    ``runs`` are one method's single runs (dicts with seed, criterion,
    csls_p@1, success); every window of ``restarts`` consecutive seeds is one
    policy run, which succeeds when the run with the highest criterion does.

    Example
    -------
    >>> runs = [{"seed": s, "criterion": c, "csls_p@1": p, "success": p > 0.5}
    ...         for s, c, p in [(0, 0.6, 0.7), (1, 0.5, 0.0), (2, 0.62, 0.72)]]
    >>> restart_policy(runs, 2)["successes"]
    2
    """
    by_seed = {r["seed"]: r for r in runs}
    kept = []
    for first in sorted(by_seed):
        window = [by_seed.get(first + i) for i in range(restarts)]
        if all(window):
            kept.append(max(window, key=lambda r: r["criterion"]))
    return {"windows": len(kept), "successes": int(sum(r["success"] for r in kept)),
            "csls_p@1_min": float(min((r["csls_p@1"] for r in kept), default=float("nan"))),
            "kept_seeds": [r["seed"] for r in kept]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="web-halves",
                        choices=["web-halves", "web-kjv", "synthetic", "oracle"])
    parser.add_argument("--out", default="results/alignment_stability")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--methods", default="adversarial,vecmap")
    parser.add_argument("--vocab", type=int, default=5000)
    parser.add_argument("--dim", type=int, default=50)
    parser.add_argument("--dico_top", type=int, default=2000,
                        help="identity dictionary over the dico_top most frequent source words")
    parser.add_argument("--success", type=float, default=0.8)
    parser.add_argument("--adversarial", default="{}", help="JSON overrides")
    parser.add_argument("--vecmap", default="{}", help="JSON overrides")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--restarts", type=int, default=2,
                        help="also score the policy 'runs from seeds s..s+R-1, keep the "
                             "highest unsupervised criterion' (align's restarts option)")
    parser.add_argument("--experiment", default="results/bible",
                        help="--corpus oracle: output folder of a finished experiment")
    parser.add_argument("--condition", default="same", choices=["same", "cross"],
                        help="--corpus oracle: which text space T is aligned to")
    parser.add_argument("--hparams", default="recipes/Bible/experiment/hparams/default.yaml",
                        help="--corpus oracle: the experiment YAML (its alignment_hparams "
                             "and alignment_overrides)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("speechbrain").setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)

    if args.corpus == "synthetic":
        from speechbrain_align.alignment.synthetic import synthetic_pair

        src, tgt, _ = synthetic_pair(args.vocab, args.dim, noise=0.05)
        src, tgt = src.sorted_by_count(), tgt.sorted_by_count()
    elif args.corpus == "oracle":
        src, tgt, files, settings = oracle_spaces(args.experiment, args.condition, args.hparams)
    else:
        src, tgt = skipgram_spaces(args.corpus, args.out, args.vocab, args.dim)
    pairs = identity_pairs(src, tgt)
    if args.corpus == "oracle":  # T*: every shared word; scored on the 500 most frequent T types
        train, test = pairs, pairs[pairs[:, 0] < 500]
    else:
        pairs = pairs[pairs[:, 0] < args.dico_top]
        shared = [(src.words[i], tgt.words[j]) for i, j in pairs]
        train, test = (dictionary_indices(part, src.words, tgt.words, "shared words")
                       for part in split_dictionary(shared, 0.5, seed=0))
    logger.info("%d x %d words, %d shared (%d train, %d test pairs)",
                len(src), len(tgt), len(pairs), len(train), len(test))

    start = time.time()
    if args.corpus != "oracle":
        files, settings = RECIPE_HPARAMS, {"adversarial": ADVERSARIAL, "vecmap": VECMAP,
                                           "supervised": {}}
    w, log = aligned(src, tgt, files, "supervised", settings["supervised"], 0, train)
    sup = evaluate_mapping(src.vectors, tgt.vectors, w, test, log["normalize"])
    sup["seconds"] = time.time() - start
    logger.info("A*: %s", sup)

    settings = {"adversarial": {**settings["adversarial"], **json.loads(args.adversarial)},
                "vecmap": {**settings["vecmap"], **json.loads(args.vecmap)}}
    runs_file = os.path.join(args.out, "stability_runs.json")
    done, runs = finished_runs(runs_file), []
    for method in args.methods.split(","):
        with open(os.path.join(REPO, files[method]), encoding="utf-8") as handle:
            yaml_text = handle.read()  # the recipe YAML is part of the settings
        key = fingerprint(src, tgt, method, [yaml_text, settings[method]], test)
        for seed in range(args.seeds):
            res = done.get((key, seed))
            if res is not None:
                logger.info("seed %d of %s: finished earlier, kept", seed, method)
            else:
                start = time.time()
                w, log = aligned(src, tgt, files, method, settings[method], seed)
                res = evaluate_mapping(src.vectors, tgt.vectors, w, test, log["normalize"])
                res.update(method=method, seed=seed, seconds=time.time() - start,
                           criterion=log["criterion"], fingerprint=key)
                logger.info("%s", res)
            res["success"] = res["csls_p@1"] >= args.success * sup["csls_p@1"]
            runs.append(res)
            write_json(runs_file, runs + [r for r in done.values() if r not in runs])

    summary = {}
    for method in args.methods.split(","):
        rs = [r for r in runs if r["method"] == method]
        nn_, cs = np.array([r["nn_p@1"] for r in rs]), np.array([r["csls_p@1"] for r in rs])
        secs = np.array([r["seconds"] for r in rs])
        summary[method] = {
            "runs": len(rs), "successes": int(sum(r["success"] for r in rs)),
            "nn_p@1_mean": float(nn_.mean()), "nn_p@1_min": float(nn_.min()),
            "nn_p@1_max": float(nn_.max()), "csls_p@1_mean": float(cs.mean()),
            "csls_p@1_min": float(cs.min()), "csls_p@1_max": float(cs.max()),
            "seconds_mean": float(secs.mean()),
        }
    policy = {m: restart_policy([r for r in runs if r["method"] == m], args.restarts)
              for m in args.methods.split(",")}
    report = {"corpus": args.corpus, "vocab": [len(src), len(tgt)], "dim": src.dim,
              "test_pairs": int(len(test)), "supervised": sup, "summary": summary,
              "restart_policy": policy,
              "settings": settings, "runs": runs, "command": " ".join(sys.argv)}
    write_json(os.path.join(args.out, "stability.json"), report)
    lines = [f"# Alignment stability: {args.corpus}, {len(src)}x{len(tgt)} words, dim {src.dim}",
             "", f"A* (Procrustes, {len(train)} train pairs): P@1 NN {sup['nn_p@1']:.3f}, "
             f"CSLS {sup['csls_p@1']:.3f} on {len(test)} test pairs", "",
             "| method | success | CSLS P@1 mean [min, max] | NN P@1 mean [min, max] | s/run |",
             "|---|---|---|---|---|"]
    for method, s in summary.items():
        lines.append(
            f"| {method}+refinement | {s['successes']}/{s['runs']} | "
            f"{s['csls_p@1_mean']:.3f} [{s['csls_p@1_min']:.3f}, {s['csls_p@1_max']:.3f}] | "
            f"{s['nn_p@1_mean']:.3f} [{s['nn_p@1_min']:.3f}, {s['nn_p@1_max']:.3f}] | "
            f"{s['seconds_mean']:.0f} |")
    lines += ["", f"Label-free restart policy ({args.restarts} runs from successive seeds, "
              "highest criterion kept; one window per first seed):", "",
              "| method | windows | success | CSLS P@1 of the kept runs (min) |", "|---|---|---|---|"]
    for method, p in policy.items():
        if p["windows"]:
            lines.append(f"| {method}+refinement | {p['windows']} | {p['successes']}/{p['windows']} "
                         f"| {p['csls_p@1_min']:.3f} |")
    lines += ["", "| method | seed | CSLS P@1 | NN P@1 | criterion | success | s |",
              "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['seed']} | {r['csls_p@1']:.3f} | {r['nn_p@1']:.3f} | "
              f"{r['criterion']:.4f} | {'yes' if r['success'] else 'no'} | {r['seconds']:.0f} |"
              for r in runs]
    with atomic_write(os.path.join(args.out, "stability.md")) as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return report


if __name__ == "__main__":
    main()
