#!/usr/bin/env python3
"""The refinement's fixed-point exit against running every iteration out, in one run.

``alignment.refinement.refine`` ends a dictionary phase as soon as an iteration
induces the previous iteration's dictionary (``stop_at_fixed_point=True``, the
default): every later iteration would repeat the same map. This script runs the
experiment's basin hopping (``hop_refine``, the ``gw`` settings of
``recipes/Bible/experiment/hparams/default.yaml``) both ways on one pair of the
experiment's spaces (``<experiment>/alignment/inputs/``), from that run's own
``gw`` mapping, and prints each way's seconds and refinement iterations, their
ratio and whether the maps and per-hop criteria are identical (each way runs
``--repeats`` times, alternately, and its fastest run counts; timings are this
machine's, in this run).

Example::

    python benchmarks/fixed_point_speed.py --experiment results/bible --row units --condition same
"""

import argparse
import os
import time

import numpy as np

from speechbrain_align.alignment import refinement
from speechbrain_align.alignment.normalization import normalize_embeddings
from speechbrain_align.dataio.vectors import load_embeddings


def counted_refine(counter):
    """``refinement.refine`` that adds its iterations (log entries after the start) to
    ``counter``."""
    original = refinement.refine

    def refine(*args, **kwargs):
        w, log = original(*args, **kwargs)
        counter[0] += len(log) - 1
        return w, log

    return refine


def main(argv=None):
    """Run the hops both ways on one pair, print the comparison and return it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiment", default="results/bible")
    parser.add_argument("--row", default="units")
    parser.add_argument("--condition", default="same")
    parser.add_argument("--hops", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2,
                        help="each way runs this many times, alternately; the fastest counts")
    args = parser.parse_args(argv)
    inputs = os.path.join(args.experiment, "alignment", "inputs")
    src = load_embeddings(os.path.join(inputs, f"speech_{args.row}.npz")).sorted_by_count()
    tgt = load_embeddings(os.path.join(inputs, f"text_{args.condition}.npz")).sorted_by_count()
    start_map = np.load(os.path.join(args.experiment, "alignment",
                                     f"{args.row}_{args.condition}_gw", "mapping.npy"))
    x, z = normalize_embeddings(src.vectors), normalize_embeddings(tgt.vectors)
    settings = dict(n_iters=40, patience=5, dico_mode=["mutual", "union"],
                    dico_max_rank=min(700, len(x), len(z)), criterion_words=min(1000, len(x)))
    results = {}
    for stop in (False, True) * args.repeats:
        counter = [0]
        original, refinement.refine = refinement.refine, counted_refine(counter)
        try:
            begin = time.time()
            w, log = refinement.hop_refine(x, z, start_map, args.hops, seed=1234,
                                           stop_at_fixed_point=stop, **settings)
            seconds = time.time() - begin
        finally:
            refinement.refine = original
        if stop not in results or seconds < results[stop][0]:
            results[stop] = (seconds, counter[0], w, [h["criterion"] for h in log])
    (slow, n_slow, w_slow, c_slow), (fast, n_fast, w_fast, c_fast) = results[False], results[True]
    print(f"{args.row} vs {args.condition}: {len(x)} x {len(z)} words, {args.hops} hops")
    print(f"every iteration      {slow:8.2f} s, {n_slow} refinement iterations")
    print(f"fixed-point exit     {fast:8.2f} s, {n_fast} refinement iterations")
    print(f"ratio                {slow / fast:8.2f} x")
    identical = bool(np.array_equal(w_slow, w_fast)) and c_slow == c_fast
    print(f"maps identical: {np.array_equal(w_slow, w_fast)}; "
          f"per-hop criteria identical: {c_slow == c_fast}")
    return {"iterations": (n_slow, n_fast), "seconds": (slow, fast), "identical": identical}


if __name__ == "__main__":
    main()
