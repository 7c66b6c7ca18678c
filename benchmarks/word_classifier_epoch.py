#!/usr/bin/env python3
"""Training time per epoch of the Speech Commands word classifiers on the CPU.

Times ``ClassifierBrain.fit_batch`` (augmentation, features, forward,
backward, optimiser step: everything a training step does once the data are
in memory) on synthetic one-second batches for each recipe YAML, and
extrapolates to one epoch of ``--clips`` clips (default 2,355, the fixed
split's training set). Each figure is the fastest of ``--repeats`` timings of
``--batches`` batches, wall clock and process CPU time, so that a busy shared
machine inflates it as little as possible.

    python benchmarks/word_classifier_epoch.py                 # 1 and 2 threads
    python benchmarks/word_classifier_epoch.py --models ecapa --threads 2
"""

import argparse
import math
import os
import sys
import tempfile
import time

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HPARAMS = os.path.join(REPO, "recipes", "SpeechCommands", "classification", "hparams")


def make_batch(input_type, batch_size, n_classes, rng, frames=51, n_mels=40):
    """A synthetic training batch of one-second clips for ``input_type``."""
    from speechbrain.dataio.batch import PaddedBatch

    from speechbrain_align.speech.classifier_data import FrameBatch

    labels = torch.randint(0, n_classes, (batch_size, 1), generator=rng)
    ids = [f"clip{i}" for i in range(batch_size)]
    if input_type == "frames":
        return FrameBatch(ids, torch.randn(batch_size, frames, n_mels, generator=rng),
                          torch.ones(batch_size), labels)
    key, shape = ("sig", (16000,)) if input_type == "waveform" else ("image", (1024,))
    items = [{"id": i, key: 0.1 * torch.randn(*shape, generator=rng), "word_encoded": y}
             for i, y in zip(ids, labels)]
    return PaddedBatch(items)


def time_model(name, batches, repeats, clips, batch_size, n_classes=8):
    """Seconds per epoch (wall, CPU) of the recipe ``hparams/<name>.yaml``."""
    from speechbrain_align.speech.classifier_brain import ClassifierBrain, load_hparams

    with tempfile.TemporaryDirectory() as tmp:
        hparams = load_hparams(os.path.join(HPARAMS, f"{name}.yaml"),
                               {"data_folder": tmp, "output_folder": tmp, "n_classes": n_classes,
                                "batch_size": batch_size})
        brain = ClassifierBrain(modules=hparams["modules"], opt_class=hparams["opt_class"],
                                hparams=hparams, run_opts={"device": "cpu"})
        brain.on_fit_start()
        hparams["epoch_counter"].current = 1
        rng = torch.Generator().manual_seed(0)
        n_frames = 1 + 1000 // int(hparams.get("hop_length", 10))
        data = [make_batch(hparams["input_type"], batch_size, n_classes, rng, frames=n_frames,
                           n_mels=hparams.get("n_mels", 40)) for _ in range(batches)]
        brain.modules.train()
        brain.fit_batch(data[0])  # warm-up
        best_wall = best_cpu = math.inf
        for _ in range(repeats):
            wall, cpu = time.perf_counter(), time.process_time()
            for batch in data:
                brain.fit_batch(batch)
            best_wall = min(best_wall, time.perf_counter() - wall)
            best_cpu = min(best_cpu, time.process_time() - cpu)
    per_epoch = math.ceil(clips / batch_size) / batches
    return best_wall * per_epoch, best_cpu * per_epoch


def main(argv=None):
    """Print a Markdown table of seconds per training epoch."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["ecapa", "tcnn", "bilstm", "mlp"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clips", type=int, default=2355)
    parser.add_argument("--batch_size", type=int, default=32)
    args = parser.parse_args(argv)
    sys.path.insert(0, REPO)
    print(f"| model | threads | s/epoch wall | s/epoch CPU | ({args.clips} clips, batch {args.batch_size}) |")
    print("|---|---|---|---|---|")
    for name in args.models:
        for threads in args.threads:
            torch.set_num_threads(threads)
            wall, cpu = time_model(name, args.batches, args.repeats, args.clips, args.batch_size)
            print(f"| {name} | {threads} | {wall:.1f} | {cpu:.1f} | |", flush=True)
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
