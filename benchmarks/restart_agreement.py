"""Does translation agreement tell failed adversarial runs from successful ones?

Usage::

    python benchmarks/restart_agreement.py --experiment results/bible --seeds 0 1 2 3 4 5 6 7 8 9
    python benchmarks/restart_agreement.py --experiment results/bible --seeds 1 --cond cross \\
        --reference results/bible/alignment/T_cross_vecmap/mapping.npy

Runs the adversarial alignment of T against a text space as the experiment
runs it (the spaces of ``<experiment>/alignment/inputs/``, the alignment YAML
with the overrides of ``--hparams``) from each seed, and prints each run's
unsupervised criterion and its translation agreement with a reference
mapping (default: the experiment's vecmap mapping of the same pair), the
quantity that ``restart_agreement`` thresholds, and (evaluation only, from
the shared words as dictionary) its CSLS P@1 on the 500 most frequent T
types, the experiment's top-500 column. Appends one JSON line per
seed to ``--out`` (default ``<experiment>/restart_agreement.jsonl``).

It then replays the experiment's restart policy on those runs, with the
reference standing for the other method's run (a successful one, with the
higher criterion: the case where only adversarial restarts): from each start
seed, the next seeds one at a time until a run agrees at least
``restart_agreement`` (of ``--hparams``) or ``--max_runs`` ran, keeping the
best criterion; ``--summary`` only replays the runs already in ``--out``.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

from speechbrain_align.alignment.criterion import translation_agreement
from speechbrain_align.alignment.mappings import evaluate_mapping
from speechbrain_align.alignment.normalization import normalize_embeddings
from speechbrain_align.dataio.vectors import load_embeddings
from speechbrain_align.utils.errors import load_recipe_hparams

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "recipes", "Bible", "experiment"))
from alignment_grid import method_overrides  # noqa: E402
from alignment_stability import aligned, identity_pairs  # noqa: E402


def replay_policy(rows, threshold, max_runs):
    """The restart policy from each start seed of ``rows`` (dicts of one run per seed).

    Returns one dict per start seed: the seeds run, the kept seed (best
    criterion), its top-500 P@1, and ``complete`` (False when the measured
    seeds ran out before a confirmation or ``max_runs``).

    Example
    -------
    >>> rows = [{"seed": s, "criterion": c, "agreement": a, "top500_csls_p@1": p}
    ...         for s, c, a, p in [(0, 0.58, 0.0, 0.0), (1, 0.65, 0.7, 0.7), (2, 0.6, 0.1, 0.1)]]
    >>> [(r["start"], r["run"], r["kept"], r["complete"]) for r in replay_policy(rows, 0.3, 4)]
    [(0, [0, 1], 1, True), (1, [1], 1, True), (2, [2], 2, False)]
    """
    by_seed = {r["seed"]: r for r in rows}
    out = []
    for start in sorted(by_seed):
        walked, complete = [], False
        for seed in range(start, start + max_runs):
            if seed not in by_seed:
                break
            walked.append(by_seed[seed])
            if by_seed[seed]["agreement"] >= threshold or len(walked) == max_runs:
                complete = True
                break
        kept = max(walked, key=lambda r: r["criterion"])
        out.append({"start": start, "run": [r["seed"] for r in walked], "kept": kept["seed"],
                    "top500_csls_p@1": kept["top500_csls_p@1"], "complete": complete})
    return out


def main(argv=None):
    """Parse the arguments, run each seed and print its criterion and agreement."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiment", default="results/bible")
    parser.add_argument("--hparams", default="recipes/Bible/experiment/hparams/default.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[])
    parser.add_argument("--max_runs", type=int, default=4, help="seeds per policy run")
    parser.add_argument("--summary", action="store_true", help="replay the runs in --out only")
    parser.add_argument("--cond", default="same", choices=("same", "cross", "es"))
    parser.add_argument("--reference", default=None, help="mapping .npy (default: vecmap's)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    hp = load_recipe_hparams(args.hparams)
    out = args.out or os.path.join(args.experiment, "restart_agreement.jsonl")
    if not args.summary:
        _run_seeds(args, hp, out)
    with open(out, encoding="utf-8") as handle:
        rows = [r for r in map(json.loads, handle) if r["cond"] == args.cond]
    print(f"restart policy (agreement >= {hp['restart_agreement']}, at most {args.max_runs} "
          f"seeds, best criterion kept), {args.cond}:")
    for r in replay_policy(rows, hp["restart_agreement"], args.max_runs):
        print(f"  from seed {r['start']}: ran {r['run']}, kept {r['kept']}, top-500 CSLS P@1 "
              f"{r['top500_csls_p@1']:.3f}{'' if r['complete'] else ' (seeds ran out)'}")


def _run_seeds(args, hp, out):
    """Run the adversarial alignment from each seed; append one JSON line per run to ``out``."""
    inputs = os.path.join(args.experiment, "alignment", "inputs")
    src_vec = os.path.join(inputs, "speech_T.npz")
    tgt_vec = os.path.join(inputs, f"text_{args.cond}.npz")
    reference = args.reference or os.path.join(
        args.experiment, "alignment", f"T_{args.cond}_vecmap", "mapping.npy")
    ref = np.load(reference)
    src, tgt = load_embeddings(src_vec).sorted_by_count(), load_embeddings(tgt_vec)
    overrides = method_overrides(hp, "adversarial", min(len(src), len(tgt)))
    pairs = identity_pairs(src, tgt)
    top500 = pairs[pairs[:, 0] < 500]
    for seed in args.seeds:
        w, log = aligned(src, tgt, hp["alignment_hparams"], "adversarial", overrides, seed)
        steps = log["normalize"]
        agreement = translation_agreement(
            normalize_embeddings(src.vectors, steps), normalize_embeddings(tgt.vectors, steps),
            w, ref, hp["agreement_words"])
        p_at_1 = evaluate_mapping(src.vectors, tgt.vectors, w, top500, steps)["csls_p@1"]
        row = {"seed": seed, "cond": args.cond, "criterion": log["criterion"],
               "agreement": agreement, "top500_csls_p@1": p_at_1, "reference": reference}
        print(f"seed {seed}: criterion {log['criterion']:.4f}, agreement with the reference "
              f"{agreement:.3f}, top-500 CSLS P@1 {p_at_1:.3f}", flush=True)
        with open(out, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
