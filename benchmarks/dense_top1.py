"""Where the time of the CSLS top-1 with score dropout (vecmap's induction) goes on the CPU.

Usage::

    python benchmarks/dense_top1.py                 # n = 4000 (the experiment's vecmap cut)
    python benchmarks/dense_top1.py --n 20000 --repeats 2

:func:`~speechbrain_align.retrieval.dense.csls_argmax` scores a block of
query rows against every key and, with dropout, draws one uniform number per
row: the rank of the first kept score (geometric), read off the row's top-k.
On random unit vectors (``n`` x ``n``, ``--dim``), one thread, in one run,
the script times:

* one induction (hubness, then top-1 both ways with keep probabilities 0.1
  and 0.2, as vecmap's first iterations) with the CPU block of
  ``dense.CPU_BLOCK_ELEMENTS`` scores (the default) and with blocks of
  ``dense.MAX_ELEMENTS`` scores (64 MiB), checking that both give the same
  pairs (the draws do not depend on the block size);
* its two choices within a block: the product by numpy (OpenBLAS) against
  torch, and the dropout as a rank draw per row and a top-k against the
  direct way, one uniform number per score, a ``torch.where`` and an argmax
  (for both keep probabilities); it also prints the mean rank of the kept
  score both ways, which should agree (same law).

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
    probs = (0.1, 0.2)
    minus_inf = torch.tensor(float("-inf"))
    generator = torch.Generator().manual_seed(0)
    kept_ranks = {"chosen": [], "other": []}

    def rank_draw(check=False):
        u = torch.rand(rows, generator=generator, dtype=torch.float64)
        ranks = [(torch.log(u) / np.log1p(-p)).floor().long() for p in probs]
        top = torch.topk(scores, int(max(r.max() for r in ranks)) + 1, dim=1)
        if check:
            kept_ranks["chosen"].append(ranks[0].numpy())
        return [top.indices.gather(1, r[:, None]) for r in ranks]

    def per_score(check=False):
        draws = torch.rand(scores.shape, generator=generator)
        best = [torch.where(draws < p, scores, minus_inf).argmax(dim=1) for p in probs]
        if check:
            order = torch.argsort(scores, dim=1, descending=True)
            kept_ranks["other"].append((order == best[0][:, None]).float().argmax(1).numpy())
        return best

    pairs = (
        ("product", ("numpy", "torch"), lambda: torch.from_numpy(src[first:first + rows] @ keys_np),
         lambda: block_q[first:first + rows] @ keys_t.T),
        ("dropout", ("rank draw + top-k", "per-score draws"), rank_draw, per_score),
    )
    for name, (label_a, label_b), chosen, other in pairs:
        spent = {}
        for label, fn in (("chosen", chosen), ("other", other)):
            best = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                for first in range(0, args.n, rows):
                    fn()
                best = min(best, time.perf_counter() - start)
            spent[label] = best
        print(f"{name}: {label_a} {spent['chosen']:.3f} s, {label_b} "
              f"{spent['other']:.3f} s per {args.n} rows; ratio {spent['other'] / spent['chosen']:.2f}")
    for _ in range(200):
        rank_draw(check=True)
        per_score(check=True)
    print("mean 0-based rank of the kept score at keep_prob 0.1 (law: 9.0): rank draw "
          f"{np.concatenate(kept_ranks['chosen']).mean():.2f}, per-score draws "
          f"{np.concatenate(kept_ranks['other']).mean():.2f}")


if __name__ == "__main__":
    main()
