"""Autograd against the fused numpy updates of adversarial alignment, on the CPU.

Usage::

    python benchmarks/adversarial_steps.py               # the experiment's sizes
    python benchmarks/adversarial_steps.py --dim 300 --hidden 2048 --iterations 50

One iteration is ``dis_steps`` discriminator updates and one mapping update
(then the orthogonal projection), as :class:`AdversarialAligner` makes them.
The script first checks that both ways give the same mapping after 10
iterations with the input dropout off (rounding differences then grow over
the iterations, as between any two orders of float operations), then times
``--iterations`` iterations each way on random vectors, one thread, in one
run, with the same batches. It prints the milliseconds per iteration and the
ratio.
"""

import argparse
import copy
import time

import numpy as np
import torch

from speechbrain_align.alignment.fused_steps import FusedSteps
from speechbrain_align.nnet.discriminator import Discriminator
from speechbrain_align.nnet.mapping import LinearMapping


def _autograd(dis, mapping, src, tgt, batches, smooth, dis_lr, map_lr):
    """The iterations with autograd and ``torch.optim.SGD`` (AdversarialAligner.fit_batch)."""
    dis_opt = torch.optim.SGD(dis.parameters(), lr=dis_lr)
    map_opt = torch.optim.SGD(mapping.parameters(), lr=map_lr)
    for src_ids, tgt_ids, _ in batches:
        dis.train()
        for step in range(len(tgt_ids)):
            with torch.no_grad():
                fake = mapping(src[src_ids[step]])
            real = tgt[tgt_ids[step]]
            logits = dis(torch.cat([fake, real]))
            labels = torch.cat([torch.full((len(fake),), smooth),
                                torch.full((len(real),), 1.0 - smooth)])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
            dis_opt.zero_grad()
            loss.backward()
            dis_opt.step()
        dis.eval()
        logits = dis(mapping(src[src_ids[-1]]))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, torch.full((len(logits),), 1.0 - smooth))
        map_opt.zero_grad()
        loss.backward()
        map_opt.step()
        mapping.project_orthogonal()


def _fused(dis, mapping, src, tgt, batches, smooth, dis_lr, map_lr):
    """The same iterations with :class:`FusedSteps`."""
    fused = FusedSteps(dis, mapping)
    for src_ids, tgt_ids, uniform in batches:
        for step in range(len(tgt_ids)):
            fake = src[src_ids[step]] @ fused.map_weight.T
            fused.discriminator_step(fake, tgt[tgt_ids[step]], uniform[step], smooth, dis_lr)
        fused.mapping_step(src[src_ids[-1]], smooth, map_lr)
        mapping.project_orthogonal()


def main(argv=None):
    """Time both ways and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dim", type=int, default=50)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--dis_steps", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--words", type=int, default=1500)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    src = rng.standard_normal((args.words, args.dim)).astype(np.float32)
    tgt = rng.standard_normal((args.words, args.dim)).astype(np.float32)
    batches = [(rng.integers(0, args.words, (args.dis_steps + 1, args.batch_size)),
                rng.integers(0, args.words, (args.dis_steps, args.batch_size)),
                rng.random((args.dis_steps, 2 * args.batch_size, args.dim), dtype=np.float32))
               for _ in range(args.iterations)]
    torch.manual_seed(0)
    dis, mapping = Discriminator(args.dim, args.hidden, 2, input_dropout=0.0), LinearMapping(args.dim)
    twin = copy.deepcopy(dis), copy.deepcopy(mapping)
    _autograd(*twin, torch.from_numpy(src), torch.from_numpy(tgt), batches[:10], 0.1, 0.1, 1.0)
    _fused(dis, mapping, src, tgt, batches[:10], 0.1, 0.1, 1.0)
    gap = float((twin[1].weight - mapping.weight).abs().max().detach())
    print(f"same 10 iterations without dropout: largest mapping difference {gap:.2e}")
    times = {}
    for dropout in (0.0, 0.3):
        dis = Discriminator(args.dim, args.hidden, 2, input_dropout=dropout)
        mapping = LinearMapping(args.dim, init="random")
        pair = {"autograd": (copy.deepcopy(dis), copy.deepcopy(mapping)), "fused": (dis, mapping)}
        for name, run in (("autograd", _autograd), ("fused", _fused)):
            d, m = pair[name]
            tensors = (torch.from_numpy(src), torch.from_numpy(tgt)) if name == "autograd" else (src, tgt)
            start = time.perf_counter()
            run(d, m, *tensors, batches, 0.1, 0.1, 1.0)
            times[name, dropout] = (time.perf_counter() - start) / args.iterations * 1e3
    for dropout in (0.0, 0.3):
        auto, fused = times["autograd", dropout], times["fused", dropout]
        print(f"input dropout {dropout}: autograd {auto:.2f} ms / iteration, fused {fused:.2f} ms "
              f"/ iteration: fused {auto / fused:.2f}x faster "
              f"(dim {args.dim}, hidden {args.hidden}, {args.dis_steps} + 1 updates of "
              f"{args.batch_size})")


if __name__ == "__main__":
    main()
