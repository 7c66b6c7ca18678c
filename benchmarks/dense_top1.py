"""Where the time of the CSLS top-1 with score dropout (vecmap's induction) goes on the CPU.

Usage::

    python benchmarks/dense_top1.py                 # n = 4000 (the experiment's vecmap cut)
    python benchmarks/dense_top1.py --n 20000 --repeats 2

:func:`~speechbrain_align.retrieval.dense.csls_argmax` scores a block of
query rows against every key, draws one uniform number per score and takes
the argmax of the kept scores for each keep probability. On random unit
vectors (``n`` x ``n``, ``--dim``), one thread, in one run, the script times:

* one induction (hubness, then top-1 both ways with keep probabilities 0.1
  and 0.2, as vecmap's first iterations) with the CPU block of
  ``dense.CPU_BLOCK_ELEMENTS`` scores (the default) and with blocks of
  ``dense.MAX_ELEMENTS`` scores (64 MiB), checking that both give the same
  pairs (the draws do not depend on the block size);
* its two choices within a block: the product by numpy (OpenBLAS) against
  torch, and the dropout as one ``torch.where`` pass against a comparison
  then ``masked_fill``.

It prints each time and each ratio (slower / faster).
"""

import argparse
import time

import numpy as np
import torch

from speechbrain_align.retrieval import dense


def _both_ways(src, tgt, seed):
    """Top-1 both ways with dropout, as one vecmap induction; returns the indices."""
    generator = torch.Generator().manual_seed(seed)
    r_src, r_tgt = dense.hubness(src, tgt, 10)
    fwd = dense.csls_argmax(src, tgt, 10, r_src, r_tgt, (0.1, 0.2), generator)
    bwd = dense.csls_argmax(tgt, src, 10, r_tgt, r_src, (0.1, 0.2), generator)
    return np.concatenate([fwd.index, bwd.index], 1)


def main():
    """Parse the arguments, time both block sizes and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--dim", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    src = rng.standard_normal((args.n, args.dim), dtype=np.float32)
    tgt = rng.standard_normal((args.n, args.dim), dtype=np.float32)
    src /= np.linalg.norm(src, axis=1, keepdims=True)
    tgt /= np.linalg.norm(tgt, axis=1, keepdims=True)
    default = dense.CPU_BLOCK_ELEMENTS
    times, outputs = {}, {}
    for name, elements in (("cpu block", default), ("64 MiB block", dense.MAX_ELEMENTS)):
        dense.CPU_BLOCK_ELEMENTS = elements
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            outputs[name] = _both_ways(src, tgt, seed=0)
            best = min(best, time.perf_counter() - start)
        times[name] = best
        print(f"{name:>13} ({elements} scores): {best:.3f} s per induction (best of {args.repeats})")
    dense.CPU_BLOCK_ELEMENTS = default
    same = np.array_equal(outputs["cpu block"], outputs["64 MiB block"])
    print(f"same pairs: {same}; 64 MiB / cpu block time ratio: "
          f"{times['64 MiB block'] / times['cpu block']:.2f}")
    rows = max(1, default // args.n)
    block_q, keys_t = torch.from_numpy(src), torch.from_numpy(tgt)
    keys_np = np.ascontiguousarray(tgt.T)
    scores = torch.from_numpy(src[:rows] @ keys_np)
    draws = torch.rand(scores.shape)
    minus_inf = torch.tensor(float("-inf"))
    pairs = (
        ("product", lambda: torch.from_numpy(src[first:first + rows] @ keys_np),
         lambda: block_q[first:first + rows] @ keys_t.T),
        ("dropout", lambda: torch.where(draws < 0.1, scores, minus_inf),
         lambda: scores.masked_fill(draws >= 0.1, float("-inf"))),
    )
    for name, chosen, other in pairs:
        spent = {}
        for label, fn in (("chosen", chosen), ("other", other)):
            best = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                for first in range(0, args.n, rows):
                    fn()
                best = min(best, time.perf_counter() - start)
            spent[label] = best
        print(f"{name}: numpy/where {spent['chosen']:.3f} s, torch/masked_fill "
              f"{spent['other']:.3f} s per {args.n} rows; ratio {spent['other'] / spent['chosen']:.2f}")


if __name__ == "__main__":
    main()
