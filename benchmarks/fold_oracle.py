#!/usr/bin/env python3
"""How complete and how precise a label-free fold of split unit types would have to be.

The label-free merge of the units leaves many words split into several types (one per
group of voices). This benchmark folds them with labels, partly and with errors, on a
finished experiment's own units (``units/units/assignment.csv``), and scores each
result as ``benchmarks/unit_vocabulary.py`` does (the unit skip-gram retrained, the
supervised row and each unsupervised method; token-level and top-500 CSLS P@1):

* ``--right R ...``: a random fraction R of the *split types* (a word's later types: the
  majority word of their train-speaker segments is held by at least half of them, and
  a larger type has the same majority word) folded into the word's largest type;
* ``--wrong Q ...``: besides, Q times as many *wrong* folds: types no larger than the
  largest split type, drawn at random, each folded into the larger type of another
  word whose acoustic centroid (``awe/segments.npz``) is nearest.

A label-free folding rule can then be read against this map: the share of the split
types it finds and the share of its folds that are right. Writes ``fold_oracle.json``
and ``fold_oracle.md`` to ``--out``; a finished row is kept on rerun when its settings
are unchanged.

Example::

    python benchmarks/fold_oracle.py --experiment results/bible --right 0.5 1 \\
        --wrong 0 0.25 --condition same cross --out results/fold_oracle
"""

import argparse
import collections
import hashlib
import json
import logging
import os
import sys

import numpy as np
import torch

from speechbrain_align.dataio.manifest import group_by_utterance
from speechbrain_align.dataio.vectors import load_embeddings
from speechbrain_align.evaluation.crossmodal import cluster_space
from speechbrain_align.retrieval.search import normalize_rows
from speechbrain_align.speech.unit_tables import main_types, read_assignment, unit_majority
from speechbrain_align.utils.files import atomic_write, write_json

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from experiment_cli import add_experiment_arguments, load_experiment, open_store  # noqa: E402
from unit_vocabulary import _unit_skipgram, score_row  # noqa: E402

logger = logging.getLogger("fold_oracle")


def oracle_folds(unit, train_rows, centroids, right, wrong, seed=1234):
    """Label-oracle folds of the types of ``unit`` (segment ID -> type).

    Arguments
    ---------
    unit : dict
        Segment ID -> type (every segment).
    train_rows : list of dict
        Manifest rows (``ID``, ``word``) whose labels name the types' majority words.
    centroids : dict
        Type -> unit-length acoustic centroid (for the wrong folds' targets).
    right, wrong : float
        Fraction of the split types folded right; wrong folds per right fold.

    Returns
    -------
    ``{type: type it is folded into}`` (chains resolved) and the number of split types.

    Example
    -------
    >>> unit = {"s0": "u0", "s1": "u0", "s2": "u1", "s3": "u2", "s4": "u2", "s5": "u3"}
    >>> rows = [{"ID": s, "word": w} for s, w in zip(sorted(unit), "aaabbc")]
    >>> cen = {"u0": np.array([1.0, 0]), "u1": np.array([0.8, 0.6]),
    ...        "u2": np.array([0.6, 0.8]), "u3": np.array([0.0, 1])}
    >>> oracle_folds(unit, rows, cen, right=1.0, wrong=0)
    ({'u1': 'u0'}, 1)
    >>> oracle_folds(unit, rows, cen, right=1.0, wrong=1)  # u3 (word c) into u2 (word b)
    ({'u1': 'u0', 'u3': 'u2'}, 1)
    """
    sizes = collections.Counter(unit.values())
    majority = unit_majority(train_rows, unit)
    clean = {u for u in majority if majority[u]["purity"] >= 0.5}
    first = main_types(majority, [u for u, _ in sizes.most_common()])
    split = sorted(u for u in clean if first[majority[u]["word"]] != u)
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(split)[: int(round(right * len(split)))].tolist()
    into = {u: first[majority[u]["word"]] for u in chosen}
    types = sorted(sizes)
    matrix = normalize_rows(np.stack([centroids[t] for t in types]))
    position = {t: i for i, t in enumerate(types)}
    targets, limit = set(into.values()), max((sizes[u] for u in split), default=0)
    n_wrong = int(round(wrong * len(chosen)))
    pool = [u for u in rng.permutation(types).tolist() if u in majority and u not in into
            and u not in targets and sizes[u] <= limit]
    for u in pool:
        if len(into) - len(chosen) >= n_wrong:
            break
        for j in np.argsort(-(matrix @ matrix[position[u]])):
            v = types[j]
            if v != u and sizes[v] > sizes[u] and majority.get(v, {}).get("word") != majority[u]["word"]:
                into[u] = v
                break

    def resolve(u):
        seen = set()
        while u in into and u not in seen:
            seen.add(u)
            u = into[u]
        return u

    return {u: resolve(u) for u in into}, len(split)


def type_centroids(unit, segments):
    """Unit-length acoustic centroid of every type: the sum of its segments' vectors."""
    sums = {}
    for sid, t in unit.items():
        v = segments.vectors[segments.index[sid]].astype(np.float64)
        sums[t] = sums[t] + v if t in sums else v.copy()
    return {t: v / max(np.linalg.norm(v), 1e-12) for t, v in sums.items()}


def folded_space(unit, rows, into, hp):
    """The units renamed by ``into``, the unit skip-gram retrained on every utterance."""
    every = rows["train"] + rows["valid"] + rows["test"]
    name = {r["ID"]: into.get(unit[r["ID"]], unit[r["ID"]]) for r in every}
    sentences = [[name[r["ID"]] for r in utt] for utt in group_by_utterance(every).values()]
    types = _unit_skipgram(sentences, hp, "units folded by labels")
    return cluster_space("units", types, name, rows["train"], name, rows["test"])


def main(argv=None):
    """Parse the arguments, score every (right, wrong, condition) row (resuming), write the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_experiment_arguments(parser)
    parser.add_argument("--right", type=float, nargs="+", default=[1.0])
    parser.add_argument("--wrong", type=float, nargs="+", default=[0.0])
    parser.add_argument("--condition", nargs="+", choices=["same", "cross"], default=["same"])
    parser.add_argument("--methods", nargs="+", default=["gw"])
    parser.add_argument("--seed", type=int, default=1234, help="draws of the folds")
    args = parser.parse_args(argv)
    if not all(0 <= r <= 1 for r in args.right) or min(args.wrong) < 0:
        parser.error("--right takes fractions from 0 to 1 and --wrong numbers from 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(1)
    needed = [os.path.join(args.experiment, "units", "units", "assignment.csv"),
              os.path.join(args.experiment, "awe", "segments.npz")]
    for path in needed:
        if not os.path.exists(path):
            parser.error(f"{path}: not found; --experiment takes a finished experiment's folder")
    hp, rows = load_experiment(args)
    unit = read_assignment(needed[0])
    centroids = type_centroids(unit, load_embeddings(needed[1]))
    store, done = open_store(args.out, "fold_oracle.json")
    blob = json.dumps([hp["skipgram"], hp["alignment_overrides"], hp["seed"], args.seed,
                       sorted(args.methods)], sort_keys=True, default=str)
    digest = hashlib.sha1(blob.encode("utf-8")).hexdigest()
    for right in args.right:
        for wrong in args.wrong:
            into, n_split = oracle_folds(unit, rows["train"], centroids, right, wrong, args.seed)
            space = None
            for condition in args.condition:
                key = f"right {right:g}, wrong {wrong:g}, {condition}"
                if done.get(key, {}).get("settings") == digest:
                    logger.info("%s: kept from %s", key, store)
                    continue
                if space is None:
                    space = folded_space(unit, rows, into, hp)
                text = load_embeddings(os.path.join(args.experiment, "text_vectors", f"{condition}.vec"))
                n_right = int(round(right * n_split))
                done[key] = dict(score_row(space, text, hp, args.methods), settings=digest,
                                 split_types=n_split, right_folds=n_right,
                                 wrong_folds=len(into) - n_right)
                write_json(store, done)
    lines = ["| row | types | right folds | wrong folds | supervised | " + " | ".join(args.methods)
             + " |", "|" + "---|" * (5 + len(args.methods))]
    for key, row in done.items():
        if row.get("settings") != digest:
            continue
        cells = [key, str(row["n_types"]), f"{row['right_folds']} of {row['split_types']}",
                 str(row["wrong_folds"])] + ["{:.1f} / {:.1f} ({:.4f})".format(
                     row[m]["token_csls_P@1"], row[m]["top500_csls_P@1"], row[m]["criterion"])
                     if m in row else "–" for m in ["supervised"] + args.methods]
        lines.append("| " + " | ".join(cells) + " |")
    with atomic_write(os.path.join(args.out, "fold_oracle.md")) as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
