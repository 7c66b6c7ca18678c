#!/usr/bin/env python3
"""Gromov-Wasserstein's Sinkhorn in scaling form against the log domain, in one run.

Both solve the same matching (``speechbrain_align.alignment.gromov``, the settings of
the ``gw`` recipe: epsilon 1e-3, up to 200 Sinkhorn iterations per linearisation) of
two synthetic spaces: ``--words`` unit vectors of dim 50 and a noisy rotation of them,
with count-like marginals and the frequency-rank term. Prints each form's seconds,
their ratio and how far the couplings differ (timings are this machine's, in this run).

Example::

    python benchmarks/sinkhorn_speed.py --words 1000 --linearisations 3
"""

import argparse
import time

import numpy as np
import torch

from speechbrain_align.alignment.gromov import entropic_gromov_wasserstein, frequency_rank_cost


def main(argv=None):
    """Time both forms on one problem and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--words", type=int, default=1000)
    parser.add_argument("--linearisations", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    x = rng.normal(size=(args.words, 50))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    rotation, _ = np.linalg.qr(rng.normal(size=(50, 50)))
    z = x @ rotation + 0.3 * rng.normal(size=x.shape) / np.sqrt(50)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    counts = 1.0 / np.arange(1, args.words + 1)  # Zipf-like
    settings = dict(epsilon=1e-3, n_iters=args.linearisations, sinkhorn_iters=200,
                    feature_cost=frequency_rank_cost(args.words, args.words), alpha=0.1,
                    p=counts ** 0.5, q=counts ** 0.5)
    seconds, couplings = {}, {}
    for scaling in (False, True):
        start = time.time()
        couplings[scaling], _ = entropic_gromov_wasserstein(x @ x.T, z @ z.T, scaling=scaling,
                                                            **settings)
        seconds[scaling] = time.time() - start
    log_domain, scaled = couplings[False], couplings[True]
    print(f"{args.words} words, {args.linearisations} linearisations")
    print(f"log domain   {seconds[False]:8.2f} s")
    print(f"scaling form {seconds[True]:8.2f} s")
    print(f"ratio        {seconds[False] / seconds[True]:8.1f} x")
    print(f"largest coupling difference {np.abs(log_domain - scaled).max():.2e}; "
          f"row argmax agreement {np.mean(log_domain.argmax(1) == scaled.argmax(1)):.3f}")


if __name__ == "__main__":
    main()
