"""Time and memory of one refinement and one self-learning induction step at a large vocabulary.

Usage::

    python benchmarks/large_vocab_alignment.py                  # n = 200000, dim 50 (long on CPU)
    python benchmarks/large_vocab_alignment.py --n 20000        # a quick check
    python benchmarks/large_vocab_alignment.py --threads 2 --json out.json

Two steps are timed on random unit vectors ``src`` and ``tgt = src Q^T +
noise`` (``n`` words each, ``--dim`` dimensions), ``src`` already mapped by
the true rotation:

* ``refinement``: one MUSE refinement step over the whole vocabulary,
  :func:`~speechbrain_align.alignment.induction.build_dictionary` (mutual
  CSLS neighbours, ``max_rank = n``) then Procrustes on the pairs;
* ``self_learning``: one stochastic induction of vecmap's self-learning
  (``speechbrain_align.alignment.self_learning._bidirectional``, CSLS top-1
  both ways with score dropout for two keep probabilities, plus the
  objective), ``vocab_cutoff = n``.

Each step is four ``n x n x d`` products (the two hubness searches and the
two top-1 passes), i.e. ``4 x 2 n^2 d`` flops. Beside the time the script
measures, in the same run, the float32 matmul rate of such products (blocks
of rows against all ``n`` keys, with torch and with numpy; the faster one is
the reference) and prints the ratio of the step's time to the time of its
flops at that rate (1 = as fast as the bare products). The CPU time of the
process is printed too: on a shared machine the wall clock also counts the
time other processes hold the cores. The peak resident
memory (``ru_maxrss``) is printed before and after each step: with the
blocked retrieval it grows by O(block) and not by ``n^2`` (a dense ``n x n``
float32 matrix would be ``4 n^2`` bytes: 160 GB at n = 200000).
"""

import argparse
import json
import os
import resource
import sys
import time


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=200000, help="vocabulary size of each side")
    p.add_argument("--dim", type=int, default=50)
    p.add_argument("--csls-k", type=int, default=10)
    p.add_argument("--threads", type=int, default=None, help="BLAS/OpenMP threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the results here")
    return p.parse_args(argv)


def peak_rss_mib():
    """Peak resident memory of this process so far, in MiB (Linux: ru_maxrss is KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def matmul_rate(n, dim, seconds=2.0):
    """Best float32 GFLOP/s of ``(rows x dim) @ (dim x n)`` blocks, torch vs numpy.

    The blocks have the shape the blocked top-1 uses (about 2**24 scores).
    """
    import numpy as np
    import torch

    from speechbrain_align.retrieval.dense import MAX_ELEMENTS

    rng = np.random.default_rng(0)
    rows = max(1, min(n, MAX_ELEMENTS // n))
    q = rng.standard_normal((rows, dim), dtype=np.float32)
    k = rng.standard_normal((n, dim), dtype=np.float32)
    qt, kt = torch.from_numpy(q), torch.from_numpy(k)
    rates = {}
    for name, fn in (("torch", lambda: qt @ kt.T), ("numpy", lambda: q @ k.T)):
        fn()  # warm up
        best, spent = float("inf"), 0.0
        while spent < seconds:
            start = time.perf_counter()
            fn()
            took = time.perf_counter() - start
            best, spent = min(best, took), spent + took
        rates[name] = 2.0 * rows * n * dim / best / 1e9
    return max(rates.values()), rates


def main(argv=None):
    args = _parse(argv)
    if args.threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    import numpy as np
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from speechbrain_align.alignment.induction import build_dictionary
    from speechbrain_align.alignment.procrustes import procrustes_on_pairs
    from speechbrain_align.alignment.self_learning import _bidirectional
    from speechbrain_align.retrieval.search import normalize_rows

    n, dim = args.n, args.dim
    rng = np.random.default_rng(args.seed)
    src = normalize_rows(rng.standard_normal((n, dim), dtype=np.float32))
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    tgt = normalize_rows(src @ q.T.astype(np.float32)
                         + 0.05 * rng.standard_normal((n, dim), dtype=np.float32))
    mapped = normalize_rows(src @ q.T.astype(np.float32))
    rate, rates = matmul_rate(n, dim)
    flops = 4 * 2.0 * n * n * dim
    print(f"n = {n}, dim = {dim}, csls_k = {args.csls_k}, torch threads = {torch.get_num_threads()}")
    print(f"float32 matmul: {rate:.1f} GFLOP/s (" +
          ", ".join(f"{k} {v:.1f}" for k, v in rates.items()) + ")")
    print(f"each step: 4 products, {flops / 1e9:.1f} GFLOP = {flops / rate / 1e9:.2f} s at that rate")
    print(f"peak RSS after the data: {peak_rss_mib():.0f} MiB "
          f"(a dense n x n float32 matrix: {4.0 * n * n / 2**20:.0f} MiB)")

    def refinement():
        pairs = build_dictionary(mapped, tgt, mode="mutual", max_rank=n, csls_k=args.csls_k)
        procrustes_on_pairs(src, tgt, pairs)
        return len(pairs)

    def self_learning_step():
        generator = torch.Generator().manual_seed(args.seed)
        (same, _), _ = _bidirectional(mapped, tgt, args.csls_k, (0.1, 0.2), generator)
        return len(same)

    results = {"n": n, "dim": dim, "matmul_gflops": rate, "matmul_rates": rates,
               "step_gflop": flops / 1e9, "steps": {}}
    for name, step in (("refinement", refinement), ("self_learning", self_learning_step)):
        before = peak_rss_mib()
        start, cpu = time.perf_counter(), time.process_time()
        n_pairs = step()
        took, cpu = time.perf_counter() - start, time.process_time() - cpu
        after = peak_rss_mib()
        ratio = took / (flops / rate / 1e9)
        print(f"{name}: {took:.2f} s ({cpu:.2f} s CPU, all threads), {n_pairs} pairs, {flops / took / 1e9:.1f} GFLOP/s effective, "
              f"time / matmul time = {ratio:.2f}; peak RSS {before:.0f} -> {after:.0f} MiB")
        results["steps"][name] = {"seconds": took, "cpu_seconds": cpu, "pairs": n_pairs, "ratio_to_matmul": ratio,
                                  "peak_rss_mib_before": before, "peak_rss_mib_after": after}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
