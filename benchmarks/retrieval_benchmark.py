"""Throughput and memory of CSLS top-10 retrieval against the float32 matmul rate.

Usage::

    python benchmarks/retrieval_benchmark.py                 # 20k x 20k full, 200k x 200k sampled
    python benchmarks/retrieval_benchmark.py --quick         # smaller samples, about a minute
    python benchmarks/retrieval_benchmark.py --full          # 200k x 200k in full (long on CPU)
    python benchmarks/retrieval_benchmark.py --threads 2 --json bench.json

What is measured, in one run and one process:

* the matmul rate: float32 ``Q @ K.T`` of the very products the search does
  (the sampled queries against all keys, keys in chunks of 16384 and
  queries in blocks of 1024 so the output buffer stays small), with numpy
  (OpenBLAS) and with torch (MKL); the faster one is the reference;
* CSLS top-10 (``csls_k`` = 10) with :func:`speechbrain_align.retrieval.search.csls_knn`:
  its work is three exact inner-product searches, ``r_src`` (queries vs
  targets), ``r_tgt`` (targets vs sources) and the final search over the
  augmented vectors, i.e. ``3 x 2 n m d`` flops; the effective rate is that
  count over the wall time, and the ratio is that rate over the matmul rate.

For 20k x 20k everything is run in full. For 200k x 200k a full run is
``3 x 2 x 200k^2 x 300 = 72 TFLOP`` (about 15 minutes per 80 GFLOP/s), so by
default each of the three searches is timed on a random subset of
``--queries`` rows (all 200k keys), and the full time is extrapolated
linearly in the number of rows (each row's search costs the same); ``--full``
runs it all. The 200k matrices are allocated in full either way, so the peak
memory (``ru_maxrss`` of this process, which includes Python, torch and faiss
themselves) is the one of a full run, plus the O(rows) result arrays.

Thread counts of OpenMP, OpenBLAS and MKL are set from ``--threads`` before
numpy, faiss and torch are imported, so both sides get the same cores.
Timings are the best of ``--repeats`` runs, matmul and search interleaved,
which matters on a shared machine; rates are given both by wall clock and by
CPU time of this process (``time.process_time``, all threads), the latter
being robust to other processes taking the cores.
"""

import argparse
import json
import os
import platform
import resource
import sys
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for every library")
    parser.add_argument("--dim", type=int, default=300)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--csls-k", type=int, default=10)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 200000])
    parser.add_argument("--queries", type=int, default=5000,
                        help="rows timed per search when a size is sampled (default 5000)")
    parser.add_argument("--full-up-to", type=int, default=20000,
                        help="sizes up to this run in full, larger ones sampled")
    parser.add_argument("--full", action="store_true", help="run every size in full")
    parser.add_argument("--quick", action="store_true",
                        help="20k sampled with 4000 rows, 200k with 1000 rows, 1 repeat")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--gpu", action="store_true",
                        help="search on the GPU (faiss GPU or torch CUDA), torch CUDA matmul")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.queries, args.full_up_to, args.repeats = 1000, 0, 1
    if args.full:
        args.full_up_to = max(args.sizes)
    return args


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402

import faiss  # noqa: E402
import torch  # noqa: E402

from speechbrain_align.retrieval.search import (  # noqa: E402
    csls_knn,
    faiss_gpu_available,
    mean_knn_similarity,
    normalize_rows,
)

GIB = 2.0**30


def peak_rss_bytes():
    """Peak resident memory of this process so far (``ru_maxrss``)."""
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def current_rss_bytes():
    """Current resident memory (Linux ``/proc``; falls back to the peak)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss_bytes()


class Clock:
    """Best wall-clock and CPU (all threads of this process) seconds per measured part."""

    def __init__(self):
        self.wall, self.cpu = {}, {}

    def run(self, name, fn, sync=None):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = fn()
        if sync is not None:
            sync()
        wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
        self.wall[name] = min(self.wall.get(name, np.inf), wall)
        self.cpu[name] = min(self.cpu.get(name, np.inf), cpu)
        return out

    def add(self, name, parts):
        """Record ``name`` as the sum of the latest best of ``parts``."""
        for table in (self.wall, self.cpu):
            table[name] = sum(table[p] for p in parts)


def matmul_numpy(queries, keys, q_block=1024, k_chunk=16384):
    """Every query x key product, chunked so the output buffer stays small."""
    buf = np.empty((q_block, k_chunk), dtype=np.float32)
    for i in range(0, len(queries), q_block):
        q = queries[i : i + q_block]
        for j in range(0, len(keys), k_chunk):
            kk = keys[j : j + k_chunk]
            np.matmul(q, kk.T, out=buf[: len(q), : len(kk)])


def matmul_torch(queries, keys, device, q_block=1024, k_chunk=16384):
    """The same products with torch (MKL on CPU, cuBLAS on GPU)."""
    q_all = torch.from_numpy(queries).to(device)
    k_all = torch.from_numpy(keys).to(device)
    buf = torch.empty((q_block, k_chunk), dtype=torch.float32, device=device)
    for i in range(0, len(q_all), q_block):
        q = q_all[i : i + q_block]
        for j in range(0, len(k_all), k_chunk):
            kk = k_all[j : j + k_chunk]
            torch.matmul(q, kk.T, out=buf[: len(q), : len(kk)])


def bench_size(n, args, rng, use_gpu):
    """Time CSLS and the reference matmul for an n x n problem."""
    d, k, csls_k = args.dim, args.k, args.csls_k
    rss_before = current_rss_bytes()
    src = normalize_rows(rng.standard_normal((n, d), dtype=np.float32))
    tgt = normalize_rows(rng.standard_normal((n, d), dtype=np.float32))
    full = n <= args.full_up_to
    nq = n if full else min(args.queries, n)
    q_rows = np.arange(n) if full else np.sort(rng.choice(n, nq, replace=False))
    t_rows = np.arange(n) if full else np.sort(rng.choice(n, nq, replace=False))
    flops_search = 2.0 * nq * n * d  # one search of the timed rows

    device = "cuda" if use_gpu else "cpu"
    sync = torch.cuda.synchronize if use_gpu else None
    clock = Clock()
    peak_after_search = None
    queries = np.ascontiguousarray(src[q_rows])
    for _ in range(args.repeats):
        if not use_gpu:
            clock.run("numpy", lambda: matmul_numpy(queries, tgt))
        clock.run("torch", lambda: matmul_torch(queries, tgt, device), sync)
        if full:
            clock.run("csls", lambda: csls_knn(src, tgt, k, csls_k=csls_k, use_gpu=use_gpu))
        else:
            r_src = clock.run("r_src", lambda: mean_knn_similarity(queries, tgt, csls_k, use_gpu))
            r_tgt_part = clock.run(
                "r_tgt", lambda: mean_knn_similarity(tgt[t_rows], src, csls_k, use_gpu)
            )
            # the values of the other targets' r only shift scores: reuse the measured ones
            r_tgt = np.resize(r_tgt_part, n).astype(np.float32)
            clock.run("final", lambda: csls_knn(queries, tgt, k, csls_k=csls_k,
                                                 use_gpu=use_gpu, r_src=r_src, r_tgt=r_tgt))
            clock.add("csls", ("r_src", "r_tgt", "final"))
        if peak_after_search is None:
            peak_after_search = peak_rss_bytes()

    row = {
        "n": n, "dim": d, "k": k, "csls_k": csls_k, "mode": "full" if full else "sampled",
        "rows_timed": nq, "inputs_gib": (src.nbytes + tgt.nbytes) / GIB,
        "peak_rss_gib": peak_after_search / GIB, "rss_before_gib": rss_before / GIB,
    }
    libs = ["torch"] if use_gpu else ["numpy", "torch"]
    for basis, table in (("wall", clock.wall), ("cpu", clock.cpu)):
        if use_gpu and basis == "cpu":
            continue
        for lib in libs:
            row[f"matmul_{lib}_gflops_{basis}"] = flops_search / table[lib] / 1e9
        ref = flops_search / min(table[lib] for lib in libs) / 1e9
        rate = 3 * flops_search / table["csls"] / 1e9
        row[f"matmul_ref_gflops_{basis}"] = ref
        row[f"csls_effective_gflops_{basis}"] = rate
        row[f"ratio_to_matmul_{basis}"] = rate / ref
        row[f"csls_seconds_{basis}"] = table["csls"]
        row[f"csls_seconds_{basis}_all_rows"] = table["csls"] * n / nq
        if not full:
            row.update({f"{p}_seconds_{basis}": table[p] for p in ("r_src", "r_tgt", "final")})
    del src, tgt, queries
    return row


def main():
    args = ARGS
    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    use_gpu = bool(args.gpu)
    if use_gpu and not (faiss_gpu_available() or torch.cuda.is_available()):
        sys.exit("--gpu: no GPU visible to faiss or torch")
    rng = np.random.default_rng(args.seed)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, "
          f"{args.threads} thread(s); faiss {faiss.__version__}, torch {torch.__version__}, "
          f"numpy {np.__version__}; search on {'GPU' if use_gpu else 'CPU'}")
    print(f"# RSS after imports: {current_rss_bytes() / GIB:.2f} GiB")
    rows = []
    for n in args.sizes:
        row = bench_size(n, args, rng, use_gpu)
        rows.append(row)
        how = (f"full ({row['n']} queries)" if row["mode"] == "full"
               else f"sampled: {row['rows_timed']} rows per search, full time extrapolated")
        print(f"\n{n} x {n}, d={row['dim']}, CSLS top-{row['k']} (csls_k={row['csls_k']}), {how}")
        for basis in ("wall", "cpu"):
            if f"csls_seconds_{basis}" not in row:
                continue
            label = "wall clock" if basis == "wall" else "CPU time (all threads)"
            print(f"  by {label}:")
            for lib in ("numpy", "torch"):
                if f"matmul_{lib}_gflops_{basis}" in row:
                    rate = row[f"matmul_{lib}_gflops_{basis}"]
                    print(f"    matmul {lib:6s}    {rate:8.1f} GFLOP/s")
            print(f"    CSLS effective  {row[f'csls_effective_gflops_{basis}']:8.1f} GFLOP/s "
                  f"(3 x 2nmd / time) = {row[f'ratio_to_matmul_{basis}']:.2f} x the faster "
                  "matmul [target >= 0.5]")
            if row["mode"] == "sampled":
                print(f"    timed: r_src {row[f'r_src_seconds_{basis}']:.1f} s, r_tgt "
                      f"{row[f'r_tgt_seconds_{basis}']:.1f} s, final search "
                      f"{row[f'final_seconds_{basis}']:.1f} s")
            print(f"    CSLS time       {row[f'csls_seconds_{basis}']:8.1f} s measured, "
                  f"{row[f'csls_seconds_{basis}_all_rows']:.1f} s for all {n} queries"
                  + (" (extrapolated)" if row["mode"] == "sampled" else ""))
        print(f"  peak RSS          {row['peak_rss_gib']:8.2f} GiB (process, incl. "
              f"{row['inputs_gib']:.2f} GiB of input matrices) [target < 4]")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"args": vars(args), "results": rows}, handle, indent=2)
    return rows


if __name__ == "__main__":
    main()
